//! The density filters, in the order the chain applies them to the design variables:
//!
//! ```text
//! design variables ──▶ density::DensityFilter (cone, Bruns & Tortorelli 2001; the length scale)
//!     ──▶ am::AmFilter (Langelaar 2016/2017; with overhang control: what a printer can build
//!         layer by layer along the printer's build direction)
//!     ──▶ projection (Wang, Lazarov & Sigmund 2011; with a minimum member size: eroded,
//!         blueprint and dilated designs)
//!     ──▶ physical density
//! ```
//!
//! Each filter gives its forward map and the transpose of its derivative for the chain rule.
//! [`crate::optimize::physical`] composes them with the symmetry and the kept values, and runs
//! the chain rule backwards.

pub mod am;
pub mod density;
pub mod projection;
