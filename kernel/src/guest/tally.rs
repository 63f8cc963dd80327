//! The console report of a test client running as a Xen guest: one line
//! per step and a summary, which the rig's checks grep.
//!
//! ```text
//! xs-arm-client: PASS read-domid
//! xs-arm-client: FAIL bye: ...
//! xs-arm-client: 9 passed, 1 failed
//! ```

use super::steps::Verdict;
use crate::console_line;

/// Prints a step's note under the image name `name`.
pub fn note(name: &str, text: &str) {
    console_line!("{}: {}", name, text);
}

/// Counts and prints the steps' verdicts under an image name.
pub struct Tally {
    /// The image name the lines start with.
    name: &'static str,
    /// Steps that passed.
    passed: u32,
    /// Steps that failed.
    failed: u32,
}

impl Tally {
    /// A tally printing under `name`.
    pub fn new(name: &'static str) -> Tally {
        Tally { name, passed: 0, failed: 0 }
    }

    /// Prints a step's note under the image name `name`.
    pub fn note(name: &str, text: &str) {
        console_line!("{}: {}", name, text);
    }

    /// Counts and prints one step's verdict.
    pub fn report(&mut self, step: &str, verdict: &Verdict) {
        match verdict {
            Ok(()) => {
                self.passed = self.passed.saturating_add(1);
                console_line!("{}: PASS {}", self.name, step);
            }
            Err(why) => {
                self.failed = self.failed.saturating_add(1);
                console_line!("{}: FAIL {}: {}", self.name, step, why);
            }
        }
    }

    /// Prints the summary line.
    pub fn summary(&self) {
        console_line!("{}: {} passed, {} failed", self.name, self.passed, self.failed);
    }
}
