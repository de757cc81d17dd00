//! Finite elements: the hexahedral element, the matrix-free stiffness operator and the linear solver.

pub mod direct;
pub mod hex8;
pub mod operator;
pub mod solver;

pub use direct::{DirectError, DirectSolver};
pub use hex8::ElementStiffness;
pub use operator::StiffnessOperator;
pub use solver::{LinearSolver, SolveError, SolveInfo, SolverParams};
