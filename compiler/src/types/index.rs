//! What an index item picks from an axis of known size.
//!
//! Python's rules for negative positions and negative steps, with one
//! difference: nothing is clamped. A bound past the end of the axis, or a
//! slice with nothing in it, is a mistake in a model, so it is an error
//! rather than a shorter (or empty) tensor.

/// The positions `start, start + step, ...` (`len` of them) of an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Picked {
    pub start: i64,
    pub len: i64,
    pub step: i64,
}

/// Position `i` of an axis of `n` (negative counts from the end).
pub fn position(i: i64, n: i64) -> Result<i64, String> {
    let at = if i < 0 { n + i } else { i };
    if (0..n).contains(&at) {
        Ok(at)
    } else {
        Err(format!("position {i} is outside an axis of size {n}"))
    }
}

/// `start:end:step` of an axis of `n`; `text` is the slice as written.
pub fn slice(
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    n: i64,
    text: &str,
) -> Result<Picked, String> {
    if step == 0 {
        return Err("a slice's step cannot be 0".to_string());
    }
    let outside = || format!("the slice `{text}` reaches outside an axis of size {n}");
    let norm = |v: i64| if v < 0 { n + v } else { v };
    let (first, last_excluded) = if step > 0 {
        (start.map_or(0, norm), end.map_or(n, norm))
    } else {
        // Going down, the default end lies before position 0.
        (start.map_or(n - 1, norm), end.map_or(-1, norm))
    };
    let first_ok = (0..n).contains(&first);
    let end_ok = if step > 0 {
        (0..=n).contains(&last_excluded)
    } else {
        (-1..n).contains(&last_excluded)
    };
    if !first_ok || !end_ok {
        return Err(outside());
    }
    let span = if step > 0 {
        last_excluded - first
    } else {
        first - last_excluded
    };
    if span <= 0 {
        return Err(format!(
            "the slice `{text}` of an axis of size {n} is empty"
        ));
    }
    let stride = step.abs();
    Ok(Picked {
        start: first,
        len: (span + stride - 1) / stride,
        step,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picked(start: Option<i64>, end: Option<i64>, step: i64, n: i64) -> Vec<i64> {
        let p = slice(start, end, step, n, "s").unwrap();
        (0..p.len).map(|k| p.start + k * p.step).collect()
    }

    #[test]
    fn slices_pick_what_python_picks() {
        let n = 7;
        let python = |s: Option<i64>, e: Option<i64>, st: i64| -> Vec<i64> {
            // Python's range over list(range(7))[s:e:st], for in-range bounds.
            let norm = |v: i64| if v < 0 { v + n } else { v };
            let (mut i, stop) = if st > 0 {
                (s.map_or(0, norm), e.map_or(n, norm))
            } else {
                (s.map_or(n - 1, norm), e.map_or(-1, norm))
            };
            let mut out = Vec::new();
            while (st > 0 && i < stop) || (st < 0 && i > stop) {
                out.push(i);
                i += st;
            }
            out
        };
        for (s, e, st) in [
            (None, None, 1),
            (Some(1), Some(4), 1),
            (Some(-3), None, 1),
            (None, Some(-1), 1),
            (None, None, 2),
            (Some(1), None, 3),
            (None, None, -1),
            (Some(5), Some(1), -2),
            (Some(-1), None, -3),
            (None, Some(0), -1),
        ] {
            assert_eq!(picked(s, e, st, n), python(s, e, st), "{s:?}:{e:?}:{st}");
        }
    }

    #[test]
    fn out_of_range_and_empty_slices_are_errors() {
        assert!(slice(Some(2), Some(9), 1, 4, "2:9")
            .unwrap_err()
            .contains("outside"));
        assert!(slice(Some(3), Some(3), 1, 4, "3:3")
            .unwrap_err()
            .contains("empty"));
        assert!(slice(Some(1), Some(3), -1, 4, "1:3:-1")
            .unwrap_err()
            .contains("empty"));
        assert!(slice(None, None, 0, 4, "::0").unwrap_err().contains("0"));
        assert_eq!(position(-1, 4), Ok(3));
        assert!(position(4, 4).is_err());
        assert!(position(-5, 4).is_err());
    }
}
