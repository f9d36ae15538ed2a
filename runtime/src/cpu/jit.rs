//! Linking generated kernels: the compiler writes each kernel as a
//! Cranelift function (`dlp_compiler::clif`); this module compiles it to
//! machine code for this CPU in a JIT module, with the helper functions it
//! calls (`super::calls`) linked in, and hands back a function pointer.

use super::calls;
use cranelift_codegen::ir::{UserExternalName, UserExternalNameRef};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};
use dlp_compiler::clif::{self, helpers, KernelCode, Unsupported};

/// A compiled kernel: reads, the result, and the range of the outermost
/// axis of its result to compute (`start..end`), so that threads can share
/// a kernel.
pub type KernelFn = unsafe extern "C" fn(*const *const u8, *mut u8, i64, i64);

/// A JIT module and the functions compiled into it.
pub struct Jit {
    module: JITModule,
    ctx: Context,
    /// Each helper's declaration, by its index in `helpers::HELPERS`.
    helpers: Vec<FuncId>,
    compiled: u32,
    /// The Cranelift IR of the last function compiled (`dlpc emit --clif`).
    pub last_clif: String,
    /// The symbol of the next function compiled (profilers show it:
    /// `update_k2_b128`); `kernelN` when empty.
    pub next_name: String,
}

impl Jit {
    pub fn new() -> Result<Jit, String> {
        let mut flags = settings::builder();
        flags.set("opt_level", "speed").map_err(|e| e.to_string())?;
        let isa = cranelift_native::builder()?
            .finish(settings::Flags::new(flags))
            .map_err(|e| e.to_string())?;
        let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
        for helper in helpers::HELPERS {
            let address = calls::address(helper.name)
                .ok_or_else(|| format!("compiler bug: no function for helper {}", helper.name))?;
            builder.symbol(helper.name, address);
        }
        let mut module = JITModule::new(builder);
        let mut declared = Vec::new();
        for helper in helpers::HELPERS {
            let mut sig = module.make_signature();
            sig.params.extend(helper.params.iter().map(|&t| param(t)));
            sig.returns.push(param(helper.result));
            let id = module
                .declare_function(helper.name, Linkage::Import, &sig)
                .map_err(|e| e.to_string())?;
            declared.push(id);
        }
        Ok(Jit {
            module,
            ctx: Context::new(),
            helpers: declared,
            compiled: 0,
            last_clif: String::new(),
            next_name: String::new(),
        })
    }

    /// Compiles `kernel` to native code.
    pub fn compile(&mut self, kernel: &KernelCode) -> Result<KernelFn, Unsupported> {
        let target = self.module.target_config();
        let name = match std::mem::take(&mut self.next_name) {
            name if name.is_empty() => format!("kernel{}", self.compiled),
            name => name,
        };
        self.compiled += 1;
        let id = self
            .module
            .declare_function(&name, Linkage::Local, &clif::kernel_signature(target))
            .map_err(|e| Unsupported(e.to_string()))?;
        let mut func = clif::function(kernel, target)?;
        self.last_clif = func.display().to_string();
        // The compiler numbers helpers by their place in its table; this
        // module by their declarations.
        let named: Vec<(UserExternalNameRef, u32)> = func
            .params
            .user_named_funcs()
            .iter()
            .map(|(r, name)| (r, name.index))
            .collect();
        for (r, index) in named {
            let helper = self.helpers.get(index as usize).ok_or_else(|| {
                Unsupported(format!(
                    "compiler bug: a call to helper {index}, which does not exist"
                ))
            })?;
            func.params
                .reset_user_func_name(r, UserExternalName::new(0, helper.as_u32()));
        }
        self.ctx.func = func;
        let defined = self.module.define_function(id, &mut self.ctx);
        self.module.clear_context(&mut self.ctx);
        defined.map_err(|e| Unsupported(format!("{e:?}")))?;
        self.module
            .finalize_definitions()
            .map_err(|e| Unsupported(e.to_string()))?;
        let code = self.module.get_finalized_function(id);
        // SAFETY: the function was just defined with this signature
        // (two pointers and two integers in, nothing out) and its memory
        // stays mapped as long as the module, which lives as long as `self`.
        Ok(unsafe { std::mem::transmute::<*const u8, KernelFn>(code) })
    }
}

fn param(t: helpers::Ty) -> cranelift_codegen::ir::AbiParam {
    use cranelift_codegen::ir::types;
    cranelift_codegen::ir::AbiParam::new(match t {
        helpers::Ty::F32 => types::F32,
        helpers::Ty::F64 => types::F64,
        helpers::Ty::I32 => types::I32,
    })
}
