//! Printing that ignores write errors: output piped into a program that
//! stops reading (`dlpc runs list | head -1`) must end the output quietly,
//! never panic, and never stop a training run.

/// `println!` that ignores write errors.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that ignores write errors.
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that ignores write errors.
macro_rules! tell {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `eprint!` that ignores write errors.
macro_rules! tell_raw {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}
