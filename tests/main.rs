//! Integration tests, one binary. Modules:
//! - `calculix`: CalculiX, the independent finite-element judge of parts, agrees with beam theory on a solid bar and with formwerk's figures of the exported cantilever (issue 15).
//! - `cli_errors`: bad design files and arguments give exit code 1 and name the key (issue 2).
//! - `cli_run`: `formwerk run` / `check` end to end: files, exit codes, output (issue 2).
//! - `fuzz`: proptest of the design parser, the STL reader and the VTI reader on arbitrary and mutated inputs: no panic, under a second, an error or a valid value (issue 16).
//! - `designs`: every example design in `designs/` is valid (issue 2).
//! - `kept`: kept regions come out in their exact form on a bracket, `motor_mount`, `pillow_block` and `pipe_clearance` (an STL body): holes round to 0.05 mm and open through, kept faces flat, no surface inside a kept solid, one true solid; a part without kept regions as before; `output.chordal_tolerance_mm` (issue 21).
//! - `loads_regions`: regions, loads and their errors through the library and the CLI (issue 5).
//! - `manufacturing`: overhang control keys, errors, and self-supporting results (issue 6).
//! - `mma_oracle`: our MMA against genoxide's independent MMA: same optimum, multipliers and objective (issue 5).
//! - `no_panic`: mutated design files never panic the parser and validator (issue 2).
//! - `printer`: `[printer]` tables and presets, `printers`, the slicer as a judge of runs, `inspect --slice` and sweeps (issue 14).
//! - `part`: mesh files, `result.json` mesh section, preview, `inspect`, `[output]` (issue 4).
//! - `optimizers`: MMA against OC, minimum mass, mass targets, `materials` (issue 5).
//! - `report`: report.html of a run and of a sweep in headless Chromium: the part drawn, the metrics of result.json, no JavaScript error, the selected variant shown (issue 17).
//! - `reproduction`: the classic top3d cantilever history is reproduced (issue 2).
//! - `resume`: runs killed at any moment resume to the same bits; SIGTERM; changed designs; folder locks (issue 16).
//! - `slicers`: admesh and PrusaSlicer accept exported parts without repair, exact kept shapes included (issues 4, 21).
//! - `solids`: every example and 50 random designs export parts that never intersect themselves; gmsh tet-meshes them; `inspect` names a self-intersection (issue 20).
//! - `slurm`: a planned sweep as a job array on a real Slurm cluster, collected (issue 7).
//! - `strength`: `min_safety_factor` designs meet their safety factor on the exported part and under `analyze`; bad strength keys (issue 15).
//! - `studies`: the example studies end to end, `analyze` (issue 5).
//! - `solver`: multigrid-CG against the direct solver, determinism, warnings, `bench` (issue 3).
//! - `vtk`: every VTI encoding VTK writes is read; formwerk's binary, compressed and ASCII files open in VTK's reader; `analyze` of a VTK-saved field (issue 16).
//! - `sweep`: `sweep`, `--plan` and `collect`: validation, resume, Ctrl-C, plan = local (issue 7).

mod common;

mod calculix;
mod cli_errors;
mod cli_run;
mod designs;
mod fuzz;
mod kept;
mod loads_regions;
mod manufacturing;
mod mma_oracle;
mod no_panic;
mod optimizers;
mod part;
mod printer;
mod report;
mod reproduction;
mod resume;
mod slicers;
mod slurm;
mod solids;
mod solver;
mod strength;
mod studies;
mod sweep;
mod vtk;
