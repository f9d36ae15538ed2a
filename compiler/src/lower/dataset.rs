//! Lowering a dataset's fields: raw reads become graph inputs (with a
//! batch axis in front), and the arithmetic on them (`/ 16.0`) becomes
//! nodes of the step graph.

use super::eval::{Env, Lowerer, R};
use super::value::Value;
use super::LowerError;
use crate::program::{DatasetSpec, SourceSpec};
use crate::resolve::DefId;
use dlp_grammar::ast::Item;

impl Lowerer<'_> {
    /// A dataset's settings and its fields as batched tensors.
    pub(super) fn dataset(&mut self, def: DefId) -> R<(DatasetSpec, Vec<(String, Value)>)> {
        let Item::Dataset(decl) = self.item(def) else {
            return Err(LowerError::new("not a dataset", None));
        };
        let mut env = Env::new(def.module);
        let mut spec = DatasetSpec {
            name: decl.name.name.clone(),
            source: SourceSpec::None,
            splits: Vec::new(),
            shuffle: None,
            feeds: Vec::new(),
        };
        let mut fields = Vec::new();
        self.image_shape = None;
        // The source first: an image folder's fields take its size.
        let (sources, others): (Vec<_>, Vec<_>) =
            decl.entries.iter().partition(|e| e.key.name == "source");
        for e in sources.into_iter().chain(others) {
            let loc = self.loc(def.module, e.value.span);
            match e.key.name.as_str() {
                "source" => {
                    spec.source = match self.expr(&mut env, &e.value)? {
                        Value::Source(s) => SourceSpec::One(s),
                        Value::Record(items) => SourceSpec::PerSplit(
                            items
                                .into_iter()
                                .map(|(n, v)| match v {
                                    Value::Source(s) => Ok((n, s)),
                                    other => Err(LowerError::new(
                                        format!("expected a data source, found {}", other.kind()),
                                        Some(loc),
                                    )),
                                })
                                .collect::<R<_>>()?,
                        ),
                        other => {
                            return Err(LowerError::new(
                                format!("expected a data source, found {}", other.kind()),
                                Some(loc),
                            ))
                        }
                    }
                }
                "split" => {
                    if let Value::Record(items) = self.expr(&mut env, &e.value)? {
                        spec.splits = items
                            .into_iter()
                            .map(|(n, v)| (n, v.as_f64().unwrap_or(0.0)))
                            .collect();
                    }
                }
                "shuffle" => {
                    spec.shuffle = match self.expr(&mut env, &e.value)? {
                        Value::Seed(s) => Some(s),
                        Value::Bool(true) => Some(0),
                        _ => None,
                    }
                }
                field => {
                    self.current_field = field.to_string();
                    let v = self.expr(&mut env, &e.value)?;
                    let v = match v {
                        Value::Tensor(_) | Value::Read(_) => Value::Tensor(self.node(v, loc)?),
                        other => {
                            return Err(LowerError::new(
                                format!("field `{field}` must be a tensor, found {}", other.kind()),
                                Some(loc),
                            ))
                        }
                    };
                    env.vars.insert(field.to_string(), v.clone());
                    fields.push((field.to_string(), v));
                }
            }
        }
        spec.feeds = std::mem::take(&mut self.feeds);
        Ok((spec, fields))
    }
}
