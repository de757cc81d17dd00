//! Shaded preview picture of a triangle mesh, rendered in software.
//!
//! A user who has just optimised a part wants to see it before opening a
//! slicer or a mesh viewer, so this module draws the part as an RGB picture
//! (and a PNG) with no graphics stack at all: plain CPU rasterisation.
//!
//! The method is the classic z-buffer pipeline:
//!
//! * a fixed three-quarter view from above (azimuth −45°, elevation 35°,
//!   z up), orthographic, so parallel edges of the part stay parallel and the
//!   picture reads like an engineering drawing;
//! * the projected mesh is fitted into the picture with a margin, and vertex
//!   positions are snapped to a fixed-point grid (1/256 of a sample), so the
//!   edge functions of Pineda ("A parallel algorithm for polygon
//!   rasterization", SIGGRAPH 1988) are evaluated exactly in integers; with
//!   the top-left fill rule every sample on a shared edge belongs to exactly
//!   one of the two triangles, so there are neither cracks nor double hits;
//! * back faces are culled (the mesh is closed and outward oriented, so they
//!   are hidden anyway) and the nearest front face wins each sample;
//! * Gouraud shading of Lambert diffuse light from two directional lights
//!   plus ambient, with area-weighted vertex normals except across creases
//!   sharper than about 40°, where the face normal is kept so the flat faces
//!   and sharp edges of a machined-looking part stay crisp;
//! * a thin dark outline where depth jumps (silhouettes), 2×2 supersampling
//!   averaged down for smooth edges, over a light vertical gradient.

use std::io::{self, Write};

use crate::mesh::TriangleMesh;

/// Size of a preview picture in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviewParams {
    /// Width of the picture in pixels.
    pub width: u32,
    /// Height of the picture in pixels.
    pub height: u32,
}

impl Default for PreviewParams {
    /// 1024 × 768, large enough to judge a part, small enough to send around.
    fn default() -> Self {
        Self {
            width: 1024,
            height: 768,
        }
    }
}

/// Samples per pixel along each axis; their average is the pixel's colour.
const SUPERSAMPLE: usize = 2;
/// Fixed-point sub-sample resolution: coordinates are in 1/256 of a sample.
const SHIFT: u32 = 8;
const ONE: i64 = 1 << SHIFT;
const HALF: i64 = ONE / 2;
/// Fixed-point coordinates are clamped to ±2^29 and the sample grid to 2^21
/// samples (2^29 in fixed point) per axis, so coordinate differences stay
/// within 2^30 and edge functions within 2^61: no i64 overflow. Fitted
/// vertices lie inside the picture, so the clamp only matters for absurd
/// picture sizes.
const COORD_LIMIT: f64 = (1u64 << 29) as f64;
const MAX_SAMPLES_PER_AXIS: usize = 1 << 21;
/// Empty border on each side, as a fraction of the picture's size.
const MARGIN: f64 = 0.08;
const AZIMUTH_DEG: f64 = -45.0;
const ELEVATION_DEG: f64 = 35.0;
/// Part colour at full light, a soft grey-blue that stands out from the
/// neutral background.
const PART: [f32; 3] = [172.0, 190.0, 216.0];
const BACKGROUND_TOP: [f32; 3] = [250.0, 250.0, 251.0];
const BACKGROUND_BOTTOM: [f32; 3] = [212.0, 215.0, 221.0];
const AMBIENT: f32 = 0.28;
/// Directions towards the lights (world frame, z up) and their strengths: a
/// key light from above the front-left and a weak fill from the right, so the
/// three faces of a box seen in the default view all get different shades.
const LIGHTS: [([f64; 3], f32); 2] = [([-0.3, -0.55, 1.0], 0.68), ([1.0, 0.3, 0.2], 0.22)];
/// Cosine of the crease angle (about 40°) beyond which a corner uses the
/// face normal instead of the smoothed vertex normal.
const CREASE_COS: f64 = 0.766;
/// Brightness factor of outline samples.
const OUTLINE: f32 = 0.45;
/// Depth step, in sample widths, by which a sample must stand in front of
/// its neighbours' mean to be drawn as outline.
const OUTLINE_JUMP: f64 = 2.0;

/// Renders `mesh` as RGB8 pixels, row-major from the top row, three bytes per
/// pixel, `width * height * 3` bytes in all.
///
/// Triangles with a non-finite or out-of-range vertex are skipped, as are
/// degenerate ones, so a broken mesh still gives a picture; an empty mesh
/// gives just the background.
pub fn render_preview(mesh: &TriangleMesh, params: &PreviewParams) -> Vec<u8> {
    let (width, height) = (params.width as usize, params.height as usize);
    let (sw, sh) = (width * SUPERSAMPLE, height * SUPERSAMPLE);
    let camera = camera_axes();
    let project = |p: &[f64; 3]| {
        let q = camera.map(|axis| dot(*p, axis));
        q.iter().all(|c| c.is_finite()).then_some(q)
    };

    let view: Vec<Option<[f64; 3]>> = mesh.vertices.iter().map(project).collect();

    // Fit the projected corners of the drawable triangles, not the 3D
    // bounding box, for a tight frame that a stray vertex cannot spoil.
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (points, _) in mesh.triangles.iter().filter_map(|t| corners(&view, t)) {
        for q in points {
            for k in 0..3 {
                lo[k] = lo[k].min(q[k]);
                hi[k] = hi[k].max(q[k]);
            }
        }
    }
    let fit = 1.0 - 2.0 * MARGIN;
    let scale = ((sw as f64 * fit) / (hi[0] - lo[0])).min((sh as f64 * fit) / (hi[1] - lo[1]));
    // A single point or a huge span gives no usable scale; nothing is drawn.
    let scale = if scale.is_finite() { scale } else { 0.0 };
    let centre = [0, 1, 2].map(|k| 0.5 * (lo[k] + hi[k]));
    let to_fixed = |c: f64| (c * ONE as f64).clamp(-COORD_LIMIT, COORD_LIMIT) as i64;
    let screen: Vec<Option<([i64; 2], f32)>> = view
        .iter()
        .map(|q| {
            q.map(|q| {
                let x = sw as f64 / 2.0 + (q[0] - centre[0]) * scale;
                let y = sh as f64 / 2.0 - (q[1] - centre[1]) * scale;
                (
                    [to_fixed(x), to_fixed(y)],
                    ((q[2] - centre[2]) * scale) as f32,
                )
            })
        })
        .collect();
    let normals = vertex_normals(mesh, &view);
    let lights = LIGHTS.map(|(d, k)| (normalize(d), k));

    let mut depth = vec![f32::NEG_INFINITY; sw * sh];
    let mut shade = vec![0.0f32; sw * sh];
    for tri in &mesh.triangles {
        let Some((corners, ids)) = corners(&screen, tri) else {
            continue;
        };
        let v = corners.map(|c| c.0);
        let area = edge(v[0], v[1], v[2]);
        if area <= 0 {
            continue;
        }
        let [a, b, c] = ids.map(|i| mesh.vertices[i]);
        let face = normalize(cross(sub(b, a), sub(c, a)));
        let s = ids.map(|i| {
            let smooth = normals[i];
            let n = if dot(smooth, face) >= CREASE_COS {
                smooth
            } else {
                face
            };
            AMBIENT
                + lights
                    .iter()
                    .map(|&(l, k)| k * dot(n, l).max(0.0) as f32)
                    .sum::<f32>()
        });
        let z = corners.map(|c| c.1);
        let inv_area = 1.0 / area as f32;
        rasterize(v, sw, sh, |x, y, w| {
            let b = w.map(|wi| wi as f32 * inv_area);
            let d = b[0] * z[0] + b[1] * z[1] + b[2] * z[2];
            let i = y * sw + x;
            if d > depth[i] {
                depth[i] = d;
                shade[i] = b[0] * s[0] + b[1] * s[1] + b[2] * s[2];
            }
        });
    }

    outline(&depth, &mut shade, sw, sh);
    resolve(&depth, &shade, width, height)
}

/// Renders `mesh` like [`render_preview`] and writes it to `writer` as an
/// 8-bit RGB PNG.
///
/// # Errors
///
/// Fails if writing fails, or with [`io::ErrorKind::InvalidInput`] if the
/// PNG encoder rejects the picture (a zero width or height).
pub fn write_preview_png<W: Write>(
    mesh: &TriangleMesh,
    params: &PreviewParams,
    writer: W,
) -> io::Result<()> {
    let pixels = render_preview(mesh, params);
    let mut encoder = png::Encoder::new(writer, params.width, params.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut png_writer = encoder.write_header().map_err(png_to_io)?;
    png_writer.write_image_data(&pixels).map_err(png_to_io)?;
    png_writer.finish().map_err(png_to_io)
}

/// Keeps the writer's own I/O error; anything else is a bad picture.
fn png_to_io(err: png::EncodingError) -> io::Error {
    match err {
        png::EncodingError::IoError(err) => err,
        other => io::Error::new(io::ErrorKind::InvalidInput, other),
    }
}

/// Right, up and towards-the-viewer unit vectors of the camera, world frame.
fn camera_axes() -> [[f64; 3]; 3] {
    let (az, el) = (AZIMUTH_DEG.to_radians(), ELEVATION_DEG.to_radians());
    let toward = [el.cos() * az.cos(), el.cos() * az.sin(), el.sin()];
    let right = normalize(cross([0.0, 0.0, 1.0], toward));
    [right, cross(toward, right), toward]
}

/// Per-vertex data of a triangle's corners and their indices, or `None` if
/// any index is out of range or any vertex was rejected as non-finite.
fn corners<T: Copy>(points: &[Option<T>], tri: &[u32; 3]) -> Option<([T; 3], [usize; 3])> {
    let ids = tri.map(|i| i as usize);
    let [a, b, c] = ids.map(|i| points.get(i).copied().flatten());
    Some(([a?, b?, c?], ids))
}

/// Unit vertex normals, the area-weighted sum of the adjacent face normals
/// (the face cross product has length twice the area), over the triangles
/// whose corners are all in `view`; zero for vertices on none.
fn vertex_normals(mesh: &TriangleMesh, view: &[Option<[f64; 3]>]) -> Vec<[f64; 3]> {
    let mut normals = vec![[0.0; 3]; mesh.vertices.len()];
    for tri in &mesh.triangles {
        let Some((_, ids)) = corners(view, tri) else {
            continue;
        };
        let [a, b, c] = ids.map(|i| mesh.vertices[i]);
        let n = cross(sub(b, a), sub(c, a));
        if n.iter().all(|x| x.is_finite()) {
            for i in ids {
                normals[i] = [0, 1, 2].map(|k| normals[i][k] + n[k]);
            }
        }
    }
    normals.into_iter().map(normalize).collect()
}

/// Twice the signed area of triangle `a b c` in fixed point, positive when
/// it runs counter-clockwise on screen (y down); as a function of `c` it is
/// the edge function of edge `a → b`, positive on the triangle's side.
fn edge(a: [i64; 2], b: [i64; 2], c: [i64; 2]) -> i64 {
    (c[0] - a[0]) * (b[1] - a[1]) - (c[1] - a[1]) * (b[0] - a[0])
}

/// Calls `plot(x, y, weights)` for every sample of the `sw × sh` grid whose
/// centre lies inside the counter-clockwise triangle `v` (fixed point), with
/// the unnormalised barycentric weights of the three corners.
///
/// A centre exactly on an edge counts only if the edge is a top edge
/// (horizontal, interior below) or a left edge (interior to the right), the
/// top-left rule, so a shared edge is drawn by exactly one of its triangles.
/// Clockwise and zero-area triangles draw nothing.
fn rasterize(v: [[i64; 2]; 3], sw: usize, sh: usize, mut plot: impl FnMut(usize, usize, [i64; 3])) {
    if edge(v[0], v[1], v[2]) <= 0 {
        return;
    }
    // The first and last sample index whose centre `i * ONE + HALF` lies in
    // [lo, hi]; the shifts are floor divisions, also for negative values.
    let range = |lo: i64, hi: i64, n: usize| {
        let first = ((lo - HALF + ONE - 1) >> SHIFT).max(0);
        let last = ((hi - HALF) >> SHIFT).min(n.min(MAX_SAMPLES_PER_AXIS) as i64 - 1);
        (first <= last).then_some((first, last))
    };
    let xs = v.map(|p| p[0]);
    let ys = v.map(|p| p[1]);
    let (Some((x0, x1)), Some((y0, y1))) = (
        range(*xs.iter().min().unwrap(), *xs.iter().max().unwrap(), sw),
        range(*ys.iter().min().unwrap(), *ys.iter().max().unwrap(), sh),
    ) else {
        return;
    };
    // Weight of corner k is the edge function of the opposite edge a → b.
    let start = [x0 * ONE + HALF, y0 * ONE + HALF];
    let mut row = [0i64; 3];
    let mut step_x = [0i64; 3];
    let mut step_y = [0i64; 3];
    let mut bias = [0i64; 3];
    for k in 0..3 {
        let (a, b) = (v[(k + 1) % 3], v[(k + 2) % 3]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        row[k] = edge(a, b, start);
        step_x[k] = dy * ONE;
        step_y[k] = -dx * ONE;
        // For counter-clockwise order on a y-down screen, a left edge runs
        // downwards and a top edge runs to the left.
        let top_left = dy > 0 || (dy == 0 && dx < 0);
        bias[k] = if top_left { 0 } else { -1 };
    }
    for y in y0..=y1 {
        let mut w = row;
        for x in x0..=x1 {
            if (w[0] + bias[0]) | (w[1] + bias[1]) | (w[2] + bias[2]) >= 0 {
                plot(x as usize, y as usize, w);
            }
            for k in 0..3 {
                w[k] += step_x[k];
            }
        }
        for k in 0..3 {
            row[k] += step_y[k];
        }
    }
}

/// Darkens every drawn sample that lies well in front of the mean of its two
/// neighbours along a row or a column: the near side of a silhouette or of a
/// part in front of another. The second difference is zero on any plane,
/// however steep, so grazing surfaces are not mistaken for edges, and the
/// background counts as infinitely far.
fn outline(depth: &[f32], shade: &mut [f32], sw: usize, sh: usize) {
    let jump = OUTLINE_JUMP as f32;
    for y in 1..sh.saturating_sub(1) {
        for x in 1..sw.saturating_sub(1) {
            let i = y * sw + x;
            let d = depth[i];
            let edge = |a: f32, b: f32| d - 0.5 * (a + b) > jump;
            if d.is_finite()
                && (edge(depth[i - 1], depth[i + 1]) || edge(depth[i - sw], depth[i + sw]))
            {
                shade[i] *= OUTLINE;
            }
        }
    }
}

/// Averages each pixel's samples into RGB8: part colour times shade where
/// something was drawn, the background gradient elsewhere.
fn resolve(depth: &[f32], shade: &[f32], width: usize, height: usize) -> Vec<u8> {
    let sw = width * SUPERSAMPLE;
    let mut pixels = vec![0u8; width * height * 3];
    for y in 0..height {
        let background = background(y, height);
        for x in 0..width {
            let mut sum = [0.0f32; 3];
            for sy in 0..SUPERSAMPLE {
                for sx in 0..SUPERSAMPLE {
                    let i = (y * SUPERSAMPLE + sy) * sw + x * SUPERSAMPLE + sx;
                    let colour = if depth[i].is_finite() {
                        PART.map(|c| c * shade[i])
                    } else {
                        background
                    };
                    sum = [0, 1, 2].map(|k| sum[k] + colour[k]);
                }
            }
            let n = (SUPERSAMPLE * SUPERSAMPLE) as f32;
            let out = &mut pixels[(y * width + x) * 3..][..3];
            for k in 0..3 {
                out[k] = (sum[k] / n).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    pixels
}

/// Background colour of pixel row `y`: light at the top, a little darker at
/// the bottom, like a studio backdrop.
fn background(y: usize, height: usize) -> [f32; 3] {
    let t = y as f32 / height.saturating_sub(1).max(1) as f32;
    [0, 1, 2].map(|k| BACKGROUND_TOP[k] + t * (BACKGROUND_BOTTOM[k] - BACKGROUND_TOP[k]))
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// `v` scaled to unit length, or zero if it has no usable length.
fn normalize(v: [f64; 3]) -> [f64; 3] {
    let len = dot(v, v).sqrt();
    if len.is_normal() {
        v.map(|c| c / len)
    } else {
        [0.0; 3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(width: u32, height: u32) -> PreviewParams {
        PreviewParams { width, height }
    }

    fn pixel(image: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * width + x) * 3) as usize;
        [image[i], image[i + 1], image[i + 2]]
    }

    fn background_u8(y: u32, height: u32) -> [u8; 3] {
        background(y as usize, height as usize).map(|c| c.round() as u8)
    }

    /// The colour a flat face with outward normal `n` gets in its interior.
    fn face_colour(n: [f64; 3]) -> [u8; 3] {
        let n = normalize(n);
        let s = AMBIENT
            + LIGHTS
                .iter()
                .map(|&(l, k)| k * dot(n, normalize(l)).max(0.0) as f32)
                .sum::<f32>();
        PART.map(|c| (c * s).round() as u8)
    }

    fn signed_volume(mesh: &TriangleMesh) -> f64 {
        let v = |i: u32| mesh.vertices[i as usize];
        mesh.triangles
            .iter()
            .map(|t| dot(v(t[0]), cross(v(t[1]), v(t[2]))))
            .sum::<f64>()
            / 6.0
    }

    /// A box with its 8 corners shared by the faces, so the renderer must
    /// keep the faces flat by its crease rule, not by unshared vertices.
    fn cuboid(lo: [f64; 3], hi: [f64; 3]) -> TriangleMesh {
        let vertices = (0..8)
            .map(|i| [0, 1, 2].map(|k| if (i >> k) & 1 == 1 { hi[k] } else { lo[k] }))
            .collect();
        let mut triangles = Vec::new();
        for k in 0..3 {
            // e_u × e_v = e_k, so (0,0) (1,0) (1,1) (0,1) is counter-clockwise
            // seen from +e_k.
            let (u, v) = ((k + 1) % 3, (k + 2) % 3);
            for side in 0..2 {
                let corner = |a: u32, b: u32| (side << k) | (a << u) | (b << v);
                let mut quad = [corner(0, 0), corner(1, 0), corner(1, 1), corner(0, 1)];
                if side == 0 {
                    quad.reverse();
                }
                triangles.push([quad[0], quad[1], quad[2]]);
                triangles.push([quad[0], quad[2], quad[3]]);
            }
        }
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    /// A torus around the z axis with `n` segments around and `m` around the
    /// tube, `2 n m` triangles.
    fn torus(major: f64, minor: f64, n: u32, m: u32) -> TriangleMesh {
        let tau = std::f64::consts::TAU;
        let mut mesh = TriangleMesh::default();
        for i in 0..n {
            let theta = tau * f64::from(i) / f64::from(n);
            for j in 0..m {
                let phi = tau * f64::from(j) / f64::from(m);
                let r = major + minor * phi.cos();
                mesh.vertices
                    .push([r * theta.cos(), r * theta.sin(), minor * phi.sin()]);
                let id = |a: u32, b: u32| (a % n) * m + b % m;
                let quad = [id(i, j), id(i + 1, j), id(i + 1, j + 1), id(i, j + 1)];
                mesh.triangles.push([quad[0], quad[1], quad[2]]);
                mesh.triangles.push([quad[0], quad[2], quad[3]]);
            }
        }
        mesh
    }

    /// A UV sphere of `n` segments and `m` rings, poles included.
    fn sphere(radius: f64, n: u32, m: u32) -> TriangleMesh {
        let mut mesh = TriangleMesh::default();
        mesh.vertices.push([0.0, 0.0, -radius]);
        for j in 1..m {
            let polar = std::f64::consts::PI * f64::from(j) / f64::from(m);
            for i in 0..n {
                let theta = std::f64::consts::TAU * f64::from(i) / f64::from(n);
                let r = radius * polar.sin();
                mesh.vertices
                    .push([r * theta.cos(), r * theta.sin(), -radius * polar.cos()]);
            }
        }
        let top = mesh.vertices.len() as u32;
        mesh.vertices.push([0.0, 0.0, radius]);
        let id = |i: u32, j: u32| 1 + (j - 1) * n + i % n;
        for i in 0..n {
            mesh.triangles.push([0, id(i + 1, 1), id(i, 1)]);
            for j in 1..m - 1 {
                let quad = [id(i, j), id(i + 1, j), id(i + 1, j + 1), id(i, j + 1)];
                mesh.triangles.push([quad[0], quad[1], quad[2]]);
                mesh.triangles.push([quad[0], quad[2], quad[3]]);
            }
            mesh.triangles.push([top, id(i, m - 1), id(i + 1, m - 1)]);
        }
        mesh
    }

    #[test]
    fn test_meshes_are_closed_and_outward() {
        let cube = cuboid([0.0; 3], [10.0; 3]);
        assert!((signed_volume(&cube) - 1000.0).abs() < 1e-9);
        let ring = torus(30.0, 10.0, 64, 32);
        assert!(signed_volume(&ring) > 0.0);
        let ball = sphere(10.0, 24, 12);
        assert!(signed_volume(&ball) > 0.9 * 4000.0 * std::f64::consts::PI / 3.0);
    }

    #[test]
    fn image_has_width_times_height_rgb_bytes() {
        let cube = cuboid([0.0; 3], [1.0; 3]);
        for (w, h) in [(1, 1), (3, 2), (17, 5), (0, 10), (10, 0), (0, 0)] {
            assert_eq!(
                render_preview(&cube, &params(w, h)).len(),
                (w * h * 3) as usize
            );
        }
        let default = PreviewParams::default();
        assert_eq!((default.width, default.height), (1024, 768));
        assert_eq!(render_preview(&cube, &default).len(), 1024 * 768 * 3);
    }

    #[test]
    fn empty_mesh_is_only_background() {
        let (w, h) = (40, 30);
        let image = render_preview(&TriangleMesh::default(), &params(w, h));
        for y in 0..h {
            for x in 0..w {
                assert_eq!(pixel(&image, w, x, y), background_u8(y, h), "pixel {x},{y}");
            }
        }
        // The gradient is there and subtle: lighter at the top.
        let (top, bottom) = (background_u8(0, h), background_u8(h - 1, h));
        assert!(top[0] > bottom[0] && top[0] - bottom[0] < 60);
    }

    #[test]
    fn cube_shows_three_flat_faces_with_distinct_shades() {
        let (w, h) = (200, 160);
        let image = render_preview(&cuboid([-5.0; 3], [5.0; 3]), &params(w, h));
        // The nearest corner (+x, -y, +z) projects to the centre; the top
        // face lies above it, the -y face to the lower left and the +x face
        // to the lower right.
        let probes = [
            ((100, 45), [0.0, 0.0, 1.0]),
            ((70, 100), [0.0, -1.0, 0.0]),
            ((130, 100), [1.0, 0.0, 0.0]),
        ];
        let mut shades = Vec::new();
        for ((x, y), normal) in probes {
            let expected = face_colour(normal);
            // Flat: a small patch around the probe has exactly one colour.
            for (dx, dy) in [(3, 3), (0, 3), (6, 3), (3, 0), (3, 6)] {
                assert_eq!(
                    pixel(&image, w, x + dx - 3, y + dy - 3),
                    expected,
                    "face {normal:?}"
                );
            }
            shades.push(expected);
        }
        assert!(shades[0] != shades[1] && shades[1] != shades[2] && shades[0] != shades[2]);
        assert!(
            shades[0][0] > shades[1][0].min(shades[2][0]),
            "top should be brighter than a side"
        );
        for s in &shades {
            assert!(s[2] > s[0], "part colour is bluish: {s:?}");
        }
        // Corners of the picture stay background.
        assert_eq!(pixel(&image, w, 0, 0), background_u8(0, h));
        assert_eq!(pixel(&image, w, w - 1, h - 1), background_u8(h - 1, h));
    }

    #[test]
    fn curved_surfaces_are_smooth_shaded() {
        // Facets of a coarse sphere meet at 15°, under the crease angle, so
        // the shade must vary smoothly across them; flat shading would jump
        // by tens of levels at every facet edge.
        let (w, h) = (160, 160);
        let image = render_preview(&sphere(10.0, 24, 12), &params(w, h));
        let radius = (1.0 - 2.0 * MARGIN) * f64::from(h) / 2.0;
        let mut steepest = 0;
        for y in 0..h {
            for x in 0..w - 1 {
                let (dx, dy) = (
                    f64::from(x) + 1.0 - f64::from(w) / 2.0,
                    f64::from(y) + 0.5 - f64::from(h) / 2.0,
                );
                if dx.hypot(dy) < 0.8 * radius {
                    let (a, b) = (pixel(&image, w, x, y), pixel(&image, w, x + 1, y));
                    assert!(b[2] > b[0], "part colour at {x},{y}");
                    steepest = (0..3).map(|k| a[k].abs_diff(b[k])).fold(steepest, u8::max);
                }
            }
        }
        assert!(steepest <= 6, "largest step between neighbours {steepest}");
    }

    #[test]
    fn outline_marks_depth_steps_but_not_steep_planes() {
        let (sw, sh) = (12, 5);
        // Left half: a plane rising steeply to the right; right half: a
        // nearer plateau, then background in the last column.
        let depth: Vec<f32> = (0..sw * sh)
            .map(|i| match i % sw {
                x @ 0..6 => 10.0 * x as f32,
                11 => f32::NEG_INFINITY,
                _ => 100.0,
            })
            .collect();
        let mut shade = vec![1.0; sw * sh];
        outline(&depth, &mut shade, sw, sh);
        let dark: Vec<usize> = (0..sw).filter(|&x| shade[2 * sw + x] < 1.0).collect();
        assert_eq!(dark, [6, 10]);
        // The image border and the background itself are never darkened.
        assert!(
            shade[..sw]
                .iter()
                .chain(&shade[(sh - 1) * sw..])
                .all(|&s| s == 1.0)
        );
    }

    #[test]
    fn z_is_up_and_the_part_is_fitted_with_a_margin() {
        let (w, h) = (300, 300);
        let image = render_preview(&cuboid([0.0, 0.0, 0.0], [1.0, 1.0, 6.0]), &params(w, h));
        let drawn: Vec<(u32, u32)> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&image, w, x, y) != background_u8(y, h))
            .collect();
        let x_range =
            drawn.iter().map(|p| p.0).min().unwrap()..=drawn.iter().map(|p| p.0).max().unwrap();
        let y_range =
            drawn.iter().map(|p| p.1).min().unwrap()..=drawn.iter().map(|p| p.1).max().unwrap();
        // A tall post is drawn tall and narrow, filling the height up to the
        // margin, and centred.
        let margin = (MARGIN * f64::from(h)) as u32;
        assert!(
            y_range.start().abs_diff(margin) <= 1 && y_range.end().abs_diff(h - 1 - margin) <= 1,
            "{y_range:?}"
        );
        assert!(
            x_range.end() - x_range.start() < (y_range.end() - y_range.start()) / 3,
            "{x_range:?}"
        );
        assert!(
            (x_range.start() + x_range.end()).abs_diff(w - 1) <= 2,
            "{x_range:?}"
        );
    }

    #[test]
    fn tessellated_square_facing_the_camera_has_no_cracks() {
        // A flat square in the view plane, split into many slightly jittered
        // triangles so the edges run at many angles through the samples; all
        // its pixels have one normal, hence one colour, and any missed
        // sample would let the background bleed into a pixel.
        let [right, up, toward] = camera_axes();
        let n = 41;
        let mut seed = 12345u64;
        let mut jitter = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / f64::from(1u32 << 31) - 0.5) * 0.6
        };
        let mut mesh = TriangleMesh::default();
        for i in 0..=n {
            for j in 0..=n {
                let inner = i > 0 && i < n && j > 0 && j < n;
                let (du, dv) = if inner {
                    (jitter(), jitter())
                } else {
                    (0.0, 0.0)
                };
                let (u, v) = (f64::from(i) + du, f64::from(j) + dv);
                mesh.vertices
                    .push([0, 1, 2].map(|k| 100.0 + u * right[k] + v * up[k]));
            }
        }
        let id = |i: u32, j: u32| i * (n + 1) + j;
        for i in 0..n {
            for j in 0..n {
                // right × up = toward, so this order faces the camera.
                let (a, b, c, d) = (id(i, j), id(i + 1, j), id(i + 1, j + 1), id(i, j + 1));
                if (i + j) % 2 == 0 {
                    mesh.triangles.extend([[a, b, c], [a, c, d]]);
                } else {
                    mesh.triangles.extend([[a, b, d], [b, c, d]]);
                }
            }
        }
        let (w, h) = (250, 200);
        let image = render_preview(&mesh, &params(w, h));
        let expected = face_colour(toward);
        // The square is fitted to the height: side 0.84 h, centred.
        let side = (1.0 - 2.0 * MARGIN) * f64::from(h);
        let (x0, y0) = ((f64::from(w) - side) / 2.0, (f64::from(h) - side) / 2.0);
        let inside =
            |x: u32, lo: f64| f64::from(x) >= lo + 2.0 && f64::from(x) + 1.0 <= lo + side - 2.0;
        let mut checked = 0;
        for y in (0..h).filter(|&y| inside(y, y0)) {
            for x in (0..w).filter(|&x| inside(x, x0)) {
                assert_eq!(pixel(&image, w, x, y), expected, "pixel {x},{y}");
                checked += 1;
            }
        }
        assert!(checked > 25_000, "{checked}");
    }

    /// Covers the rectangle with a jittered grid of triangles whose corners
    /// often sit exactly on sample centres and half-way between them.
    fn covered_once(flip_diagonals: bool) {
        let (sw, sh) = (40usize, 30usize);
        let (nx, ny) = (7i64, 5i64);
        let spacing = 5 * ONE;
        let origin = [3 * ONE + HALF, 2 * ONE];
        let point = |i: i64, j: i64| {
            let inner = i > 0 && i < nx && j > 0 && j < ny;
            let (jx, jy) = if inner {
                ((i * 7 + j * 3) % 5 - 2, (i * 5 + j * 11) % 5 - 2)
            } else {
                (0, 0)
            };
            [
                origin[0] + i * spacing + jx * HALF,
                origin[1] + j * spacing + jy * HALF,
            ]
        };
        let mut count = vec![0u32; sw * sh];
        for i in 0..nx {
            for j in 0..ny {
                let (a, b, c, d) = (
                    point(i, j),
                    point(i + 1, j),
                    point(i + 1, j + 1),
                    point(i, j + 1),
                );
                let tris = if ((i + j) % 2 == 0) ^ flip_diagonals {
                    [[a, b, c], [a, c, d]]
                } else {
                    [[a, b, d], [b, c, d]]
                };
                for mut t in tris {
                    // Screen y is down: the grid order is clockwise there.
                    t.swap(1, 2);
                    rasterize(t, sw, sh, |x, y, _| count[y * sw + x] += 1);
                }
            }
        }
        let (lo, hi) = (point(0, 0), point(nx, ny));
        for y in 0..sh {
            for x in 0..sw {
                let (cx, cy) = (x as i64 * ONE + HALF, y as i64 * ONE + HALF);
                // Half-open: the top and left sides belong to the rectangle.
                let inside = (lo[0]..hi[0]).contains(&cx) && (lo[1]..hi[1]).contains(&cy);
                assert_eq!(count[y * sw + x], u32::from(inside), "sample {x},{y}");
            }
        }
    }

    #[test]
    fn shared_edges_cover_every_sample_exactly_once() {
        covered_once(false);
        covered_once(true);
    }

    #[test]
    fn clockwise_and_degenerate_triangles_draw_nothing() {
        let mut hits = 0;
        let (a, b, c) = ([HALF, HALF], [HALF, 9 * ONE], [9 * ONE, HALF]);
        rasterize([a, c, b], 10, 10, |_, _, _| hits += 1);
        rasterize([a, a, b], 10, 10, |_, _, _| hits += 1);
        rasterize(
            [a, [5 * ONE, 5 * ONE], [9 * ONE, 9 * ONE]],
            10,
            10,
            |_, _, _| hits += 1,
        );
        assert_eq!(hits, 0);
        rasterize([a, b, c], 10, 10, |_, _, _| hits += 1);
        assert!(hits > 20);
        // Far off screen, partly off screen and beyond the clamp: no panic.
        let far = COORD_LIMIT as i64;
        rasterize(
            [[-far, -far], [-far, far], [far, -far]],
            10,
            10,
            |_, _, _| hits += 1,
        );
        rasterize(
            [[-far, -far], [-far, -far + ONE], [-far + ONE, -far]],
            10,
            10,
            |_, _, _| hits += 1,
        );
    }

    #[test]
    fn broken_triangles_are_skipped_without_changing_the_rest() {
        let (w, h) = (64, 48);
        let cube = cuboid([0.0; 3], [1.0; 3]);
        let clean = render_preview(&cube, &params(w, h));
        let mut broken = cube.clone();
        // A NaN, an infinite and an unreferenced far-away vertex, and
        // triangles that use them, point past the end, or have no area.
        broken.vertices.push([f64::NAN, 0.0, 0.0]);
        broken.vertices.push([0.0, f64::INFINITY, 0.0]);
        broken.vertices.push([1e300, -1e300, 1e300]);
        broken.triangles.extend([
            [8, 0, 1],
            [0, 9, 2],
            [1, 8, 9],
            [0, 1, 99],
            [0, 0, 1],
            [3, 3, 3],
        ]);
        assert_eq!(render_preview(&broken, &params(w, h)), clean);

        // Only broken triangles: nothing but background.
        let nan = TriangleMesh {
            vertices: vec![[f64::NAN; 3]; 3],
            triangles: vec![[0, 1, 2], [0, 1, 7]],
        };
        let image = render_preview(&nan, &params(w, h));
        assert!((0..h).all(|y| (0..w).all(|x| pixel(&image, w, x, y) == background_u8(y, h))));
    }

    #[test]
    fn extreme_meshes_do_not_panic() {
        let (w, h) = (64, 48);
        let mut huge = cuboid([0.0; 3], [1.0; 3]);
        huge.vertices.push([1e300, -1e300, 1e300]);
        huge.vertices.push([-1e300, 1e300, -1e300]);
        huge.triangles.extend([[0, 1, 8], [9, 1, 0]]);
        let point = TriangleMesh {
            vertices: vec![[1.0; 3]; 3],
            triangles: vec![[0, 1, 2]],
        };
        let tiny = cuboid([0.0; 3], [1e-300; 3]);
        for mesh in [huge, point, tiny] {
            assert_eq!(
                render_preview(&mesh, &params(w, h)).len(),
                (w * h * 3) as usize
            );
        }
    }

    #[test]
    fn nearer_surface_hides_farther_one_in_either_order() {
        // A square facing the camera, which shades differently from every
        // cube face, in front of or behind a cube, drawn before or after it.
        let [right, up, toward] = camera_axes();
        let square = |offset: f64| {
            let corner =
                |u: f64, v: f64| [0, 1, 2].map(|k| u * right[k] + v * up[k] + offset * toward[k]);
            let vertices = vec![
                corner(-2.0, -2.0),
                corner(2.0, -2.0),
                corner(2.0, 2.0),
                corner(-2.0, 2.0),
            ];
            TriangleMesh {
                vertices,
                triangles: vec![[0, 1, 2], [0, 2, 3]],
            }
        };
        let join = |a: &TriangleMesh, b: &TriangleMesh| {
            let mut mesh = a.clone();
            let base = mesh.vertices.len() as u32;
            mesh.vertices.extend(&b.vertices);
            mesh.triangles
                .extend(b.triangles.iter().map(|t| t.map(|i| i + base)));
            mesh
        };
        let cube = cuboid([-1.0; 3], [1.0; 3]);
        let (w, h) = (80, 80);
        // The cube's nearest corner is at the centre; look just above it,
        // on the top face, which the square covers when in front.
        let probe = |mesh: &TriangleMesh| pixel(&render_preview(mesh, &params(w, h)), w, 40, 34);
        let (front, behind) = (square(3.0), square(-3.0));
        assert_eq!(probe(&join(&cube, &front)), face_colour(toward));
        assert_eq!(probe(&join(&front, &cube)), face_colour(toward));
        assert_eq!(probe(&join(&cube, &behind)), face_colour([0.0, 0.0, 1.0]));
        assert_eq!(probe(&join(&behind, &cube)), face_colour([0.0, 0.0, 1.0]));
    }

    #[test]
    fn png_decodes_to_the_rendered_pixels() {
        let mesh = torus(30.0, 10.0, 48, 24);
        let p = params(120, 90);
        let mut bytes = Vec::new();
        write_preview_png(&mesh, &p, &mut bytes).unwrap();
        let mut reader = png::Decoder::new(io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut decoded = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut decoded).unwrap();
        assert_eq!((info.width, info.height), (120, 90));
        assert_eq!(
            (info.color_type, info.bit_depth),
            (png::ColorType::Rgb, png::BitDepth::Eight)
        );
        assert_eq!(
            &decoded[..info.buffer_size()],
            render_preview(&mesh, &p).as_slice()
        );
    }

    #[test]
    fn png_of_zero_size_is_an_error_not_a_panic() {
        let err =
            write_preview_png(&TriangleMesh::default(), &params(0, 10), Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn png_write_failure_keeps_the_io_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_preview_png(&TriangleMesh::default(), &params(8, 8), Full).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
