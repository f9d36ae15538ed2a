//! Symbolic dimensions in a normal form, so that equal sizes compare equal.
//!
//! A [`Dim`] is a polynomial with integer coefficients over atoms; an atom is
//! a named size (`B`, `hidden`) or a floor division that could not be
//! simplified (`(H - k) / s`). Sums and products are expanded and like terms
//! collected, so `(28 - 3) / 1 + 1` is `26` and `I + I` is `2 * I`.
//!
//! Division is floor division of non-negative sizes by positive ones. It is
//! simplified exactly where floor division allows: constants fold, and terms
//! that are whole multiples of a one-term divisor come out of the floor
//! (`(H + 2 * k) / k` is `H / k + 2`). What remains stays an atom, compared
//! structurally.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Atom {
    Sym(String),
    /// `floor(num / den)`, neither side a constant multiple of the other.
    Div(Box<Dim>, Box<Dim>),
}

/// A product of atoms (sorted, repeated for powers); empty for the constant term.
type Monomial = Vec<Atom>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Dim {
    /// Non-zero coefficient of each monomial.
    terms: BTreeMap<Monomial, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimError {
    DivisionByZero,
    Overflow,
}

type Result<T> = std::result::Result<T, DimError>;

impl Dim {
    pub fn constant(value: i64) -> Dim {
        let mut terms = BTreeMap::new();
        if value != 0 {
            terms.insert(Vec::new(), value);
        }
        Dim { terms }
    }

    pub fn sym(name: impl Into<String>) -> Dim {
        Dim::monomial(vec![Atom::Sym(name.into())], 1)
    }

    fn monomial(atoms: Monomial, coefficient: i64) -> Dim {
        let mut terms = BTreeMap::new();
        if coefficient != 0 {
            terms.insert(atoms, coefficient);
        }
        Dim { terms }
    }

    /// The value, if the dimension is a constant.
    pub fn as_const(&self) -> Option<i64> {
        match self.terms.len() {
            0 => Some(0),
            1 => self.terms.get(&Vec::new()).copied(),
            _ => None,
        }
    }

    /// The name, if the dimension is exactly one named size.
    pub fn as_sym(&self) -> Option<&str> {
        match self.terms.iter().next() {
            Some((atoms, 1)) if self.terms.len() == 1 => match atoms.as_slice() {
                [Atom::Sym(name)] => Some(name),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every named size the dimension mentions.
    pub fn symbols(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_symbols(&mut out);
        out.sort();
        out.dedup();
        out
    }

    fn collect_symbols(&self, out: &mut Vec<String>) {
        for atom in self.terms.keys().flatten() {
            match atom {
                Atom::Sym(s) => out.push(s.clone()),
                Atom::Div(n, d) => {
                    n.collect_symbols(out);
                    d.collect_symbols(out);
                }
            }
        }
    }

    pub fn add(&self, other: &Dim) -> Result<Dim> {
        let mut terms = self.terms.clone();
        for (m, c) in &other.terms {
            let entry = terms.entry(m.clone()).or_insert(0);
            *entry = entry.checked_add(*c).ok_or(DimError::Overflow)?;
            if *entry == 0 {
                terms.remove(m);
            }
        }
        Ok(Dim { terms })
    }

    pub fn neg(&self) -> Result<Dim> {
        let terms = self
            .terms
            .iter()
            .map(|(m, c)| Ok((m.clone(), c.checked_neg().ok_or(DimError::Overflow)?)))
            .collect::<Result<_>>()?;
        Ok(Dim { terms })
    }

    pub fn sub(&self, other: &Dim) -> Result<Dim> {
        self.add(&other.neg()?)
    }

    pub fn mul(&self, other: &Dim) -> Result<Dim> {
        let mut result = Dim::default();
        for (m1, c1) in &self.terms {
            for (m2, c2) in &other.terms {
                let mut atoms: Monomial = m1.iter().chain(m2).cloned().collect();
                atoms.sort();
                let c = c1.checked_mul(*c2).ok_or(DimError::Overflow)?;
                result = result.add(&Dim::monomial(atoms, c))?;
            }
        }
        Ok(result)
    }

    /// Floor division.
    pub fn div(&self, den: &Dim) -> Result<Dim> {
        if den.as_const() == Some(0) {
            return Err(DimError::DivisionByZero);
        }
        if let (Some(n), Some(d)) = (self.as_const(), den.as_const()) {
            return Ok(Dim::constant(n.div_euclid(d)));
        }
        if self == den {
            return Ok(Dim::constant(1));
        }
        // A one-term divisor: whole multiples of it leave the floor.
        let Some((den_atoms, &den_coef)) = den.terms.iter().next().filter(|_| den.terms.len() == 1)
        else {
            return Ok(Dim::monomial(
                vec![Atom::Div(Box::new(self.clone()), Box::new(den.clone()))],
                1,
            ));
        };
        let mut quotient = Dim::default();
        let mut rest = Dim::default();
        for (atoms, &coef) in &self.terms {
            match (remove_atoms(atoms, den_atoms), coef % den_coef) {
                (Some(left), 0) => {
                    quotient = quotient.add(&Dim::monomial(left, coef / den_coef))?
                }
                _ => rest = rest.add(&Dim::monomial(atoms.clone(), coef))?,
            }
        }
        let rest = match rest.as_const() {
            // 0 <= r < d gives floor(r / d) == 0; any constant folds exactly.
            Some(r) if den.as_const().is_some() => Dim::constant(r.div_euclid(den_coef)),
            Some(0) => Dim::default(),
            _ => Dim::monomial(vec![Atom::Div(Box::new(rest), Box::new(den.clone()))], 1),
        };
        quotient.add(&rest)
    }

    /// `self` knowing that `den` divides `num` (a `where num % den == 0`
    /// fact): each `den * (num / den)` in it is `num`, so that
    /// `heads * (D / heads)` is `D`. `den` must be one term; anything else
    /// is left as it is.
    pub fn assuming_divides(&self, num: &Dim, den: &Dim) -> Result<Dim> {
        let Some((den_atoms, &den_coef)) = den.terms.iter().next().filter(|_| den.terms.len() == 1)
        else {
            return Ok(self.clone());
        };
        let quotient = Atom::Div(Box::new(num.clone()), Box::new(den.clone()));
        let mut out = Dim::default();
        for (atoms, &coef) in &self.terms {
            let rewritten = remove_atoms(atoms, std::slice::from_ref(&quotient))
                .and_then(|rest| remove_atoms(&rest, den_atoms))
                .filter(|_| coef % den_coef == 0);
            let term = match rewritten {
                Some(rest) => Dim::monomial(rest, coef / den_coef).mul(num)?,
                None => Dim::monomial(atoms.clone(), coef),
            };
            out = out.add(&term)?;
        }
        Ok(out)
    }

    /// Replaces named sizes; `lookup` returns `None` to keep a name.
    pub fn substitute(&self, lookup: &dyn Fn(&str) -> Option<Dim>) -> Result<Dim> {
        let mut result = Dim::default();
        for (atoms, &coef) in &self.terms {
            let mut term = Dim::constant(coef);
            for atom in atoms {
                let value = match atom {
                    Atom::Sym(s) => lookup(s).unwrap_or_else(|| Dim::sym(s.clone())),
                    Atom::Div(n, d) => n.substitute(lookup)?.div(&d.substitute(lookup)?)?,
                };
                term = term.mul(&value)?;
            }
            result = result.add(&term)?;
        }
        Ok(result)
    }
}

/// `atoms` with one occurrence of each of `remove` taken out, if all occur.
fn remove_atoms(atoms: &[Atom], remove: &[Atom]) -> Option<Monomial> {
    let mut left = atoms.to_vec();
    for r in remove {
        let i = left.iter().position(|a| a == r)?;
        left.remove(i);
    }
    Some(left)
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Atom::Sym(s) => f.write_str(s),
            Atom::Div(n, d) => {
                let simple = |d: &Dim| d.as_sym().is_some() || d.as_const().is_some();
                let num = if n.terms.len() > 1 {
                    format!("({n})")
                } else {
                    n.to_string()
                };
                let den = if simple(d) {
                    d.to_string()
                } else {
                    format!("({d})")
                };
                write!(f, "{num} / {den}")
            }
        }
    }
}

impl fmt::Display for Dim {
    /// `H / k + 2`, `2 * I`, `B - 1`: symbolic terms in order, the constant last.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.terms.is_empty() {
            return f.write_str("0");
        }
        let mut ordered: Vec<_> = self.terms.iter().filter(|(m, _)| !m.is_empty()).collect();
        ordered.extend(self.terms.iter().filter(|(m, _)| m.is_empty()));
        for (i, (atoms, &coef)) in ordered.into_iter().enumerate() {
            let magnitude = coef.unsigned_abs();
            match (i, coef < 0) {
                (0, true) => f.write_str("-")?,
                (0, false) => {}
                (_, true) => f.write_str(" - ")?,
                (_, false) => f.write_str(" + ")?,
            }
            let factors: Vec<String> = atoms
                .iter()
                .map(|a| match a {
                    Atom::Div(..) if atoms.len() > 1 || magnitude != 1 => format!("({a})"),
                    _ => a.to_string(),
                })
                .collect();
            match (atoms.is_empty(), magnitude) {
                (true, m) => write!(f, "{m}")?,
                (false, 1) => f.write_str(&factors.join(" * "))?,
                (false, m) => write!(f, "{m} * {}", factors.join(" * "))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_divisibility_fact_cancels_the_floor() {
        let (d, h) = (Dim::sym("D"), Dim::sym("heads"));
        let split = h.mul(&d.div(&h).unwrap()).unwrap();
        assert_ne!(split, d);
        assert_eq!(split.assuming_divides(&d, &h).unwrap(), d);
        let twice = Dim::constant(2).mul(&split).unwrap();
        assert_eq!(
            twice.assuming_divides(&d, &h).unwrap(),
            Dim::constant(2).mul(&d).unwrap()
        );
        let four = Dim::constant(4);
        let quarters = four.mul(&d.div(&four).unwrap()).unwrap();
        assert_eq!(quarters.assuming_divides(&d, &four).unwrap(), d);
        // Without the divisor beside it, the floor stays.
        let alone = d.div(&h).unwrap();
        assert_eq!(alone.assuming_divides(&d, &h).unwrap(), alone);
    }

    fn s(n: &str) -> Dim {
        Dim::sym(n)
    }
    fn c(v: i64) -> Dim {
        Dim::constant(v)
    }

    #[test]
    fn constants_fold() {
        let d = c(28)
            .sub(&c(3))
            .unwrap()
            .div(&c(1))
            .unwrap()
            .add(&c(1))
            .unwrap();
        assert_eq!(d, c(26));
        assert_eq!(c(7).div(&c(2)).unwrap(), c(3));
    }

    #[test]
    fn like_terms_collect() {
        assert_eq!(s("I").add(&s("I")).unwrap().to_string(), "2 * I");
        assert_eq!(s("I").sub(&s("I")).unwrap(), c(0));
        let a = s("a").add(&c(1)).unwrap();
        assert_eq!(a.mul(&a).unwrap().to_string(), "2 * a + a * a + 1");
    }

    #[test]
    fn division_pulls_out_multiples() {
        let h_minus_k = s("H").sub(&s("k")).unwrap();
        let d = h_minus_k.div(&s("k")).unwrap().add(&c(1)).unwrap();
        assert_eq!(d, s("H").div(&s("k")).unwrap());
        let conv = h_minus_k.div(&s("s")).unwrap().add(&c(1)).unwrap();
        assert_eq!(conv.to_string(), "(H - k) / s + 1");
        assert_eq!(
            s("x").mul(&c(4)).unwrap().div(&c(2)).unwrap(),
            s("x").mul(&c(2)).unwrap()
        );
    }

    #[test]
    fn substitution_renormalises() {
        let conv = s("H")
            .sub(&s("k"))
            .unwrap()
            .div(&s("s"))
            .unwrap()
            .add(&c(1))
            .unwrap();
        let bound = conv
            .substitute(&|n| match n {
                "H" => Some(c(28)),
                "k" => Some(c(3)),
                "s" => Some(c(1)),
                _ => None,
            })
            .unwrap();
        assert_eq!(bound, c(26));
        assert_eq!(s("x").div(&c(0)), Err(DimError::DivisionByZero));
    }
}
