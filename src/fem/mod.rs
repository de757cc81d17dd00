//! Finite elements: the hexahedral element, the matrix-free operator and the linear solvers.

pub mod cg;
pub mod direct;
pub mod hex8;
pub mod multigrid;
pub mod operator;
pub mod solver;
pub mod stencil;
pub mod stress;
pub mod transfer;

pub use direct::{DirectError, DirectSolver};
pub use hex8::ElementStiffness;
pub use multigrid::MultigridParams;
pub use operator::StiffnessOperator;
pub use solver::{LinearSolver, SolveError, SolveInfo, SolveWorkspace, SolverMethod, SolverParams};
