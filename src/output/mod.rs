//! Result files: density fields, convergence plots, and safe writing.
//!
//! Every file is written through [`atomic::write_atomically`] (write to a
//! temporary file, sync, rename), so a crash or a full disk part-way through
//! a long optimisation never leaves a truncated result that looks valid.
//! [`vtk`] writes the density field as VTK XML ImageData for ParaView, and
//! [`plot`] draws the compliance and volume-fraction history as SVG, [`pareto`] a sweep's
//! Pareto front.

pub mod atomic;
pub mod pareto;
pub mod plot;
pub mod preview;
pub mod result;
pub mod vtk;
