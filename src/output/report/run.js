// The part in 3D: own WebGL (no library), orbit with the mouse, zoom with the wheel, a section
// plane along x, y or z, colour by von Mises stress or by overhang.
(function () {
  function bytes(id) {
    const text = document.getElementById(id).textContent.trim();
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  const stl = bytes("stl");
  const view = new DataView(stl.buffer);
  const n = view.getUint32(80, true);
  const pos = new Float32Array(n * 9);
  const nor = new Float32Array(n * 9);
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let t = 0; t < n; t++) {
    const o = 84 + 50 * t;
    const normal = [0, 1, 2].map((k) => view.getFloat32(o + 4 * k, true));
    for (let v = 0; v < 3; v++) {
      for (let k = 0; k < 3; k++) {
        const x = view.getFloat32(o + 12 + 12 * v + 4 * k, true);
        pos[9 * t + 3 * v + k] = x;
        nor[9 * t + 3 * v + k] = normal[k];
        lo[k] = Math.min(lo[k], x);
        hi[k] = Math.max(hi[k], x);
      }
    }
  }
  const stress = new Float32Array(bytes("stress").buffer);
  const overhangNode = document.getElementById("overhang");
  const overhang = overhangNode ? bytes("overhang") : null;
  const legend = document.getElementById("legend");
  const stressMax = Number(legend.dataset.max) || 1;

  // Blue → cyan → green → yellow → red.
  function ramp(t) {
    t = Math.min(1, Math.max(0, t));
    const stops = [[0.19, 0.3, 0.85], [0.1, 0.75, 0.85], [0.3, 0.8, 0.3], [0.95, 0.85, 0.2], [0.85, 0.15, 0.1]];
    const x = t * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x));
    const f = x - i;
    return [0, 1, 2].map((k) => stops[i][k] * (1 - f) + stops[i + 1][k] * f);
  }
  const colors = new Float32Array(n * 9);
  const modeSelect = document.getElementById("mode");
  function fillColors() {
    const mode = modeSelect.value;
    for (let t = 0; t < n; t++) {
      let c;
      if (mode === "overhang") {
        c = overhang && overhang[t] ? [0.85, 0.15, 0.1] : [0.72, 0.74, 0.78];
      } else {
        c = ramp(stress[t] / stressMax);
      }
      for (let v = 0; v < 3; v++) colors.set(c, 9 * t + 3 * v);
    }
    document.getElementById("legend-stress").hidden = mode !== "stress";
    document.getElementById("legend-overhang").hidden = mode !== "overhang";
  }

  const canvas = document.getElementById("view");
  const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: true });
  if (!gl) {
    pageError("WebGL is not available in this browser");
    return;
  }
  function shader(type, source) {
    const s = gl.createShader(type);
    gl.shaderSource(s, source);
    gl.compileShader(s);
    if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) pageError(gl.getShaderInfoLog(s));
    return s;
  }
  const program = gl.createProgram();
  gl.attachShader(program, shader(gl.VERTEX_SHADER, `
    attribute vec3 position; attribute vec3 normal; attribute vec3 color;
    uniform mat4 projection; uniform mat4 modelView;
    varying vec3 vColor; varying vec3 vNormal; varying vec3 vWorld;
    void main() {
      vColor = color; vNormal = mat3(modelView) * normal; vWorld = position;
      gl_Position = projection * modelView * vec4(position, 1.0);
    }`));
  gl.attachShader(program, shader(gl.FRAGMENT_SHADER, `
    precision mediump float;
    uniform vec4 clip;
    varying vec3 vColor; varying vec3 vNormal; varying vec3 vWorld;
    void main() {
      if (dot(vec4(vWorld, 1.0), clip) > 0.0) discard;
      vec3 n = normalize(vNormal);
      float light = 0.35 + 0.65 * abs(dot(n, normalize(vec3(0.3, 0.5, 1.0))));
      gl_FragColor = vec4(vColor * light, 1.0);
    }`));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) pageError(gl.getProgramInfoLog(program));
  gl.useProgram(program);
  function attribute(name, data) {
    const buffer = gl.createBuffer();
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    const at = gl.getAttribLocation(program, name);
    gl.enableVertexAttribArray(at);
    gl.vertexAttribPointer(at, 3, gl.FLOAT, false, 0, 0);
    return buffer;
  }
  attribute("position", pos);
  attribute("normal", nor);
  fillColors();
  const colorBuffer = attribute("color", colors);

  const center = [0, 1, 2].map((k) => 0.5 * (lo[k] + hi[k]));
  const size = Math.hypot(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) || 1;
  let yaw = -0.6, pitch = 0.45, distance = 1.25 * size;
  function perspective(fovy, aspect, near, far) {
    const f = 1 / Math.tan(fovy / 2), d = near - far;
    return [f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) / d, -1, 0, 0, (2 * far * near) / d, 0];
  }
  function lookAt(eye, target, up) {
    const sub = (a, b) => a.map((x, i) => x - b[i]);
    const norm = (a) => { const l = Math.hypot(...a) || 1; return a.map((x) => x / l); };
    const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
    const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    const z = norm(sub(eye, target)), x = norm(cross(up, z)), y = cross(z, x);
    return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, -dot(x, eye), -dot(y, eye), -dot(z, eye), 1];
  }
  const axisSelect = document.getElementById("section-axis");
  const slider = document.getElementById("section");
  function clipPlane() {
    const axis = Number(axisSelect.value);
    const f = Number(slider.value) / 1000;
    if (f >= 1) return [0, 0, 0, -1];
    const plane = [0, 0, 0, 0];
    plane[axis] = 1;
    plane[3] = -(lo[axis] + f * (hi[axis] - lo[axis]));
    return plane;
  }
  function draw() {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(0.97, 0.97, 0.97, 1);
    gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
    gl.enable(gl.DEPTH_TEST);
    const eye = [
      center[0] + distance * Math.cos(pitch) * Math.cos(yaw),
      center[1] + distance * Math.cos(pitch) * Math.sin(yaw),
      center[2] + distance * Math.sin(pitch),
    ];
    gl.uniformMatrix4fv(gl.getUniformLocation(program, "projection"), false,
      perspective(0.8, canvas.width / Math.max(1, canvas.height), size * 0.01, size * 10));
    gl.uniformMatrix4fv(gl.getUniformLocation(program, "modelView"), false, lookAt(eye, center, [0, 0, 1]));
    gl.uniform4fv(gl.getUniformLocation(program, "clip"), clipPlane());
    gl.drawArrays(gl.TRIANGLES, 0, 3 * n);
  }
  // How much of the canvas the part covers: what the browser tests read.
  function measure() {
    const pixels = new Uint8Array(canvas.width * canvas.height * 4);
    gl.readPixels(0, 0, canvas.width, canvas.height, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    let covered = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.abs(pixels[i] - 247) + Math.abs(pixels[i + 1] - 247) + Math.abs(pixels[i + 2] - 247) > 24) covered++;
    }
    const status = document.getElementById("status");
    status.dataset.covered = String(covered);
    status.dataset.triangles = String(n);
    status.textContent = `${n} triangles, ${covered} pixels drawn`;
  }
  let dragging = null;
  canvas.addEventListener("mousedown", (e) => { dragging = [e.clientX, e.clientY]; });
  window.addEventListener("mouseup", () => { dragging = null; });
  window.addEventListener("mousemove", (e) => {
    if (!dragging) return;
    yaw -= (e.clientX - dragging[0]) * 0.01;
    pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - dragging[1]) * 0.01));
    dragging = [e.clientX, e.clientY];
    draw();
  });
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    distance *= Math.exp(e.deltaY * 0.001);
    draw();
  }, { passive: false });
  modeSelect.addEventListener("change", () => {
    fillColors();
    gl.bindBuffer(gl.ARRAY_BUFFER, colorBuffer);
    gl.bufferData(gl.ARRAY_BUFFER, colors, gl.STATIC_DRAW);
    draw();
  });
  axisSelect.addEventListener("change", draw);
  slider.addEventListener("input", draw);
  window.addEventListener("resize", draw);
  draw();
  measure();
})();
