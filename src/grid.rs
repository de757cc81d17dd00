//! The voxel grid: element, node and degree-of-freedom numbering, stated once.
//!
//! Conventions used everywhere in formwerk:
//! - element `(i, j, k)` occupies `[i·h, (i+1)·h] × [j·h, (j+1)·h] × [k·h, (k+1)·h]` (millimetres),
//!   index `e = i + nx·(j + ny·k)` (x fastest, the same order as VTK cell data);
//! - node `(i, j, k)` sits at `(i·h, j·h, k·h)`, index `n = i + (nx+1)·(j + (ny+1)·k)`;
//! - degree of freedom `3·n + axis` (axis 0 = x, 1 = y, 2 = z);
//! - the 8 corners of an element are numbered lexicographically, corner `c` at offset
//!   `(c & 1, (c >> 1) & 1, (c >> 2) & 1)`, and its 24 local DOFs are `3·c + axis`.

use rayon::prelude::*;

/// A uniform grid of cubic voxel elements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Number of elements along x, y and z.
    pub elements: [usize; 3],
    /// Edge length of one cubic element in millimetres.
    pub element_size_mm: f64,
}

impl Grid {
    /// A grid of `elements` voxels of edge `element_size_mm`.
    pub fn new(elements: [usize; 3], element_size_mm: f64) -> Self {
        Self {
            elements,
            element_size_mm,
        }
    }

    /// Number of nodes along x, y and z (one more than elements).
    pub fn nodes_per_axis(&self) -> [usize; 3] {
        self.elements.map(|n| n + 1)
    }

    /// Total number of elements.
    pub fn element_count(&self) -> usize {
        self.elements.iter().product()
    }

    /// Total number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes_per_axis().iter().product()
    }

    /// Total number of degrees of freedom (3 per node).
    pub fn dof_count(&self) -> usize {
        3 * self.node_count()
    }

    /// Linear index of element `(i, j, k)`.
    pub fn element_index(&self, [i, j, k]: [usize; 3]) -> usize {
        let [nx, ny, _] = self.elements;
        i + nx * (j + ny * k)
    }

    /// Linear index of node `(i, j, k)`.
    pub fn node_index(&self, [i, j, k]: [usize; 3]) -> usize {
        let [nx, ny, _] = self.nodes_per_axis();
        i + nx * (j + ny * k)
    }

    /// Grid coordinates `(i, j, k)` of node `n`.
    pub fn node_coords(&self, n: usize) -> [usize; 3] {
        let [nx, ny, _] = self.nodes_per_axis();
        [n % nx, (n / nx) % ny, n / (nx * ny)]
    }

    /// Position of node `n` in millimetres.
    pub fn node_position_mm(&self, n: usize) -> [f64; 3] {
        self.node_coords(n).map(|c| c as f64 * self.element_size_mm)
    }

    /// Grid coordinates `(i, j, k)` of element `e`.
    pub fn element_coords(&self, e: usize) -> [usize; 3] {
        let [nx, ny, _] = self.elements;
        [e % nx, (e / nx) % ny, e / (nx * ny)]
    }

    /// The 8 nodes of element `(i, j, k)` in lexicographic corner order.
    pub fn element_nodes(&self, [i, j, k]: [usize; 3]) -> [usize; 8] {
        std::array::from_fn(|corner| {
            self.node_index([i + (corner & 1), j + ((corner >> 1) & 1), k + (corner >> 2)])
        })
    }

    /// Per element, whether at least one of its 8 nodes is flagged in `node_flags` (one per node).
    ///
    /// Used with the loaded and supported nodes to find the elements whose stress is dominated by
    /// the point-load singularity.
    ///
    /// # Panics
    ///
    /// If `node_flags.len()` is not `self.node_count()`.
    pub fn elements_touching(&self, node_flags: &[bool]) -> Vec<bool> {
        assert_eq!(node_flags.len(), self.node_count(), "one flag per node");
        (0..self.element_count())
            .into_par_iter()
            .map(|e| {
                self.element_nodes(self.element_coords(e))
                    .iter()
                    .any(|&n| node_flags[n])
            })
            .collect()
    }

    /// The elements that have node `n` as a corner, each as `(corner, element)` with the
    /// node's corner number in that element ([`Grid::element_nodes`] order), by corner.
    pub fn elements_at_node(&self, n: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let node = self.node_coords(n);
        (0..8).filter_map(move |c| {
            let offset = [c & 1, (c >> 1) & 1, c >> 2];
            let mut element = [0; 3];
            for a in 0..3 {
                element[a] = node[a]
                    .checked_sub(offset[a])
                    .filter(|&x| x < self.elements[a])?;
            }
            Some((c, self.element_index(element)))
        })
    }

    /// Centre of element `e` in millimetres.
    pub fn element_center_mm(&self, e: usize) -> [f64; 3] {
        self.element_coords(e)
            .map(|c| (c as f64 + 0.5) * self.element_size_mm)
    }

    /// The 24 global DOFs of element `(i, j, k)` in local order `3·corner + axis`.
    pub fn element_dofs(&self, [i, j, k]: [usize; 3]) -> [usize; 24] {
        let mut dofs = [0; 24];
        for (corner, node) in self.element_nodes([i, j, k]).into_iter().enumerate() {
            for axis in 0..3 {
                dofs[3 * corner + axis] = 3 * node + axis;
            }
        }
        dofs
    }

    /// Size of the design domain in millimetres.
    pub fn size_mm(&self) -> [f64; 3] {
        self.elements.map(|n| n as f64 * self.element_size_mm)
    }

    /// Volume of one element in mm³.
    pub fn element_volume_mm3(&self) -> f64 {
        self.element_size_mm.powi(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_and_element_indices_round_trip() {
        let grid = Grid::new([4, 3, 2], 0.5);
        for n in 0..grid.node_count() {
            assert_eq!(grid.node_index(grid.node_coords(n)), n);
        }
        for e in 0..grid.element_count() {
            assert_eq!(grid.element_index(grid.element_coords(e)), e);
        }
        assert_eq!(grid.dof_count(), 3 * 5 * 4 * 3);
    }

    #[test]
    fn element_dofs_follow_lexicographic_corners() {
        let grid = Grid::new([2, 2, 2], 1.0);
        let dofs = grid.element_dofs([1, 0, 1]);
        // corner 0 is node (1,0,1), corner 7 is node (2,1,2)
        assert_eq!(dofs[0], 3 * grid.node_index([1, 0, 1]));
        assert_eq!(dofs[23], 3 * grid.node_index([2, 1, 2]) + 2);
        assert_eq!(
            grid.node_position_mm(grid.node_index([2, 1, 2])),
            [2.0, 1.0, 2.0]
        );
    }
}
