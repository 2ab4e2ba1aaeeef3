// The MNIST lab page: a client of the JSON API of `mnist serve` (docs/web.md).
// Plain ES2020, no build step. Chart.js 3 is loaded before this file as the
// global `Chart`.
'use strict';

// ---------------------------------------------------------------- helpers

const $ = (id) => document.getElementById(id);

// One colour per run or optimizer, in order.
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Fetches a JSON answer. Any failure becomes an ApiError whose message is
// readable as it is: the server's {"error": ...} line when there is one.
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, `Cannot reach the server for ${path}: is "mnist serve" still running?`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const reason = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, reason);
  }
  if (body === undefined) throw new ApiError(response.status, `${path}: the server's answer is not JSON`);
  return body;
}

function postJson(path, data) {
  return api(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(data)});
}

// Shows an error in a role="alert" element, or hides it when error is null.
function showError(element, error) {
  element.hidden = !error;
  element.textContent = error ? error.message : '';
  element.dataset.status = error && error.status ? error.status : '';
}

// Creates an element: attrs may hold text, class, on<event> handlers and
// plain attributes.
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

const percent = (v) => (v == null ? '–' : `${(100 * v).toFixed(2)}%`);
const decimals = (v, n = 4) => (v == null ? '–' : Number(v).toFixed(n));

// Paints 0–255 grey levels (row by row) into a canvas of the same size.
function paintGrey(canvas, levels) {
  const image = new ImageData(canvas.width, canvas.height);
  for (let i = 0; i < levels.length; i++) {
    image.data.set([levels[i], levels[i], levels[i], 255], 4 * i);
  }
  canvas.getContext('2d').putImageData(image, 0, 0);
}

// Chart.js line chart of {x, y} points: no animation, so streaming data
// costs little.
function lineChart(canvas, xTitle, yTitle, {pointRadius = 0, legend = true, plugins = []} = {}) {
  return new Chart(canvas, {
    type: 'line',
    data: {datasets: []},
    plugins,
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      spanGaps: false,
      elements: {point: {radius: pointRadius}, line: {borderWidth: 2}},
      interaction: {mode: 'nearest', axis: 'x', intersect: false},
      scales: {
        x: {type: 'linear', title: {display: true, text: xTitle}},
        y: {type: 'linear', title: {display: true, text: yTitle}},
      },
      plugins: {legend: {display: legend, position: 'bottom', labels: {boxWidth: 12}}},
    },
  });
}

// Redraws charts at most once per frame, however many events arrive.
const chartsToUpdate = new Set();
function updateChartSoon(chart) {
  if (chartsToUpdate.size === 0) {
    requestAnimationFrame(() => {
      chartsToUpdate.forEach((c) => c.update('none'));
      chartsToUpdate.clear();
    });
  }
  chartsToUpdate.add(chart);
}

// ---------------------------------------------------------------- tabs

const TABS = ['draw', 'train', 'experiments', 'mistakes', 'trajectories'];
const tabOpened = {};  // name -> function run the first time the tab is shown
let currentTab = null;

function showTab(name) {
  currentTab = name;
  for (const tab of TABS) {
    const selected = tab === name;
    $(`tab-${tab}`).setAttribute('aria-selected', selected);
    $(`tab-${tab}`).tabIndex = selected ? 0 : -1;
    $(`panel-${tab}`).hidden = !selected;
  }
  history.replaceState(null, '', `#${name}`);
  openTab(name);
}

function openTab(name) {
  const open = tabOpened[name];
  if (open) {
    delete tabOpened[name];
    open();
  }
}

function setupTabs() {
  window.addEventListener('hashchange', () => {
    const name = location.hash.slice(1);
    if (TABS.includes(name) && name !== currentTab) showTab(name);
  });
  const tabs = TABS.map((name) => $(`tab-${name}`));
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => showTab(TABS[i]));
    // Arrow keys move between tabs, as in the ARIA tabs pattern.
    tab.addEventListener('keydown', (event) => {
      const step = {ArrowRight: 1, ArrowLeft: -1}[event.key];
      if (!step) return;
      const next = (i + step + TABS.length) % TABS.length;
      showTab(TABS[next]);
      tabs[next].focus();
    });
  });
}

// ---------------------------------------------------------------- models

const state = {info: null, models: []};

function modelLabel(m) {
  const parts = [m.model, m.optimizer && `${m.optimizer} ${m.lr}`, m.accuracy != null && percent(m.accuracy)];
  return `${m.id} (${parts.filter(Boolean).join(', ')})`;
}

function fillModelSelect(select) {
  const current = select.value;
  if (state.models.length === 0) {
    select.replaceChildren(el('option', {value: '', text: 'no model yet: train one'}));
    return;
  }
  select.replaceChildren(...state.models.map((m) => el('option', {value: m.id, text: modelLabel(m)})));
  if (state.models.some((m) => m.id === current)) select.value = current;
}

async function refreshModels() {
  state.models = await api('/api/models');
  fillModelSelect($('draw-model'));
  fillModelSelect($('mistakes-model'));
  runs.forEach(renderRun);  // a run's architecture is known from its checkpoint
}

// Runs that end gain a checkpoint; many may end at once when their streams
// replay, so the list is fetched once for all of them.
let modelsTimer = null;
function refreshModelsSoon() {
  clearTimeout(modelsTimer);
  modelsTimer = setTimeout(() => refreshModels().catch((error) => showError($('global-error'), error)), 300);
}

// ---------------------------------------------------------------- draw

const pad = {canvas: null, ctx: null, pointer: null, last: null, hasInk: false};
// At most one prediction request is in flight; next is the latest image
// waiting ({label, blob}: blob() gives the image), sent when it returns.
// last is what the result shows, sent again when the model changes. A clear
// bumps the generation, so that an answer still on its way is dropped.
const predictor = {next: null, last: null, busy: false, generation: 0};

function setupDraw() {
  pad.canvas = $('pad');
  pad.ctx = pad.canvas.getContext('2d');
  pad.canvas.addEventListener('pointerdown', penDown);
  pad.canvas.addEventListener('pointermove', penMove);
  pad.canvas.addEventListener('pointerup', penUp);
  pad.canvas.addEventListener('pointercancel', penUp);
  $('draw-clear').addEventListener('click', clearPad);
  $('draw-upload').addEventListener('change', uploadPhoto);
  $('draw-model').addEventListener('change', predictAgain);
  $('draw-refresh-models').addEventListener('click', () =>
    refreshModels().then(() => showError($('draw-error'), null), (error) => showError($('draw-error'), error)));

  const bars = $('prob-bars');
  for (let digit = 0; digit < 10; digit++) {
    bars.append(el('div', {class: 'bar-row', 'data-digit': digit}, [
      el('span', {class: 'bar-label', text: digit}),
      el('span', {class: 'bar-track'}, [el('span', {class: 'bar-fill'})]),
      el('span', {class: 'bar-value', text: ''}),
    ]));
  }
  clearPad();
}

// Dark ink on white: the server's preprocessing inverts it as MNIST needs.
function clearPad() {
  pad.ctx.fillStyle = '#fff';
  pad.ctx.fillRect(0, 0, pad.canvas.width, pad.canvas.height);
  pad.hasInk = false;
  predictor.last = null;
  predictor.generation++;
  $('draw-upload').value = '';
  showPrediction(null);
  showError($('draw-error'), null);
}

// Pointer position in canvas pixels (the canvas may be drawn smaller, and
// has a border).
function padPoint(event) {
  const {canvas} = pad;
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left - canvas.clientLeft) * canvas.width) / canvas.clientWidth,
    y: ((event.clientY - rect.top - canvas.clientTop) * canvas.height) / canvas.clientHeight,
  };
}

function strokeTo(point) {
  const ctx = pad.ctx;
  ctx.strokeStyle = '#000';
  ctx.lineWidth = 20;  // about MNIST's stroke once the digit is scaled into 20×20
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath();
  ctx.moveTo(pad.last.x, pad.last.y);
  ctx.lineTo(point.x, point.y);
  ctx.stroke();
  pad.last = point;
}

function penDown(event) {
  if (pad.pointer !== null || (event.pointerType === 'mouse' && event.button !== 0)) return;
  event.preventDefault();
  pad.canvas.setPointerCapture(event.pointerId);
  pad.pointer = event.pointerId;
  pad.last = padPoint(event);
  strokeTo(pad.last);  // a dot, for a tap
  pad.hasInk = true;
  predictDrawing();
}

function penMove(event) {
  if (event.pointerId !== pad.pointer) return;
  // Coalesced events keep fast strokes smooth on high-rate pointers.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  (events.length ? events : [event]).forEach((e) => strokeTo(padPoint(e)));
  predictDrawing();
}

function penUp(event) {
  if (event.pointerId !== pad.pointer) return;
  pad.pointer = null;
  predictDrawing();
}

function predictDrawing() {
  if (!pad.hasInk) return;
  requestPrediction('drawing', () => new Promise((resolve) => pad.canvas.toBlob(resolve, 'image/png')));
}

function predictAgain() {
  if (predictor.last) requestPrediction(predictor.last.label, predictor.last.blob);
}

function requestPrediction(label, blob) {
  predictor.next = {label, blob};
  predictor.last = predictor.next;
  $('draw-result').dataset.state = 'busy';
  if (!predictor.busy) predictLoop();
}

async function predictLoop() {
  predictor.busy = true;
  while (predictor.next) {
    const {label, blob} = predictor.next;
    predictor.next = null;
    await predict(await blob(), label);
  }
  predictor.busy = false;
  $('draw-result').dataset.state = 'idle';
}

async function predict(blob, label) {
  const generation = predictor.generation;
  const query = new URLSearchParams({top_k: 3});
  if ($('draw-model').value) query.set('model', $('draw-model').value);
  try {
    const result = await api(`/api/predict?${query}`, {method: 'POST', body: blob});
    if (generation !== predictor.generation) return;
    showPrediction(result, label);
    showError($('draw-error'), null);
  } catch (error) {
    if (generation === predictor.generation) showError($('draw-error'), error);
  }
}

// Fills the result card, or empties it when result is null.
function showPrediction(result, label) {
  const digit = $('predicted-digit');
  digit.textContent = result ? result.digit : '?';
  digit.dataset.digit = result ? result.digit : '';
  digit.dataset.source = result ? label : '';
  if (result) {
    const [first, ...others] = result.top_k;
    const rest = others.map((t) => `${t.digit}: ${percent(t.probability)}`).join(', ');
    $('predicted-text').textContent = `${percent(first.probability)} sure${rest ? `; then ${rest}` : ''} (${label})`;
  } else {
    $('predicted-text').textContent = 'Draw a digit or upload a photo.';
  }
  document.querySelectorAll('#prob-bars .bar-row').forEach((row, d) => {
    const p = result ? result.probabilities[d] : 0;
    row.classList.toggle('best', !!result && d === result.digit);
    row.querySelector('.bar-fill').style.width = `${100 * p}%`;
    row.querySelector('.bar-value').textContent = result ? percent(p) : '';
  });
  paintGrey($('model-input'), result ? result.input : new Array(28 * 28).fill(0));
}

// A photo is sent as it is; it is also shown on the pad, over which one can
// go on drawing.
function uploadPhoto() {
  const file = $('draw-upload').files[0];
  if (!file) return;
  const limit = state.info && state.info.limits.max_upload_bytes;
  if (limit && file.size > limit) {
    showError($('draw-error'), new Error(`${file.name}: ${file.size} bytes, over the server's limit of ${limit}`));
    return;
  }
  showPhotoOnPad(file);
  requestPrediction(file.name, async () => file);
}

async function showPhotoOnPad(file) {
  clearPad();
  try {
    const bitmap = await createImageBitmap(file);
    const {width, height} = pad.canvas;
    const scale = Math.min(width / bitmap.width, height / bitmap.height);
    const w = bitmap.width * scale, h = bitmap.height * scale;
    pad.ctx.drawImage(bitmap, (width - w) / 2, (height - h) / 2, w, h);
  } catch {
    // The browser cannot decode it; the server will say whether it can.
  }
}

// ---------------------------------------------------------------- train

// id -> {entry, color, loss and accuracy (chart datasets), source, connection, row, cells, stopButton, plotted}
const runs = new Map();
// Runs plotted at once: the newest, each in its own colour of the palette.
const MAX_PLOTTED = PALETTE.length;
let lossChart = null, accuracyChart = null;

function setupTrain() {
  const {optimizers, schedules, models} = state.info;
  $('train-optimizer').replaceChildren(
    ...optimizers.map((o) => el('option', {value: o.name, text: `${o.name} (lr ${o.lr})`})));
  $('train-schedule').replaceChildren(...schedules.map((s) => el('option', {value: s.name, text: s.name})));
  $('train-model').replaceChildren(...models.map((m) => el('option', {value: m, text: m})));
  $('train-optimizer').addEventListener('change', optimizerChosen);
  $('train-schedule').addEventListener('change', describeChoice);
  $('train-form').addEventListener('submit', startRun);
  optimizerChosen();

  // No legends: the run table's tick boxes, in the runs' colours, say which line is which.
  lossChart = lineChart($('loss-chart'), 'step', 'loss', {legend: false});
  accuracyChart = lineChart($('accuracy-chart'), 'epoch', 'accuracy (%)', {pointRadius: 4, legend: false});
  accuracyChart.options.scales.x.ticks = {stepSize: 1};
}

function optimizerChosen() {
  const optimizer = state.info.optimizers.find((o) => o.name === $('train-optimizer').value);
  $('train-lr').value = optimizer.lr;
  describeChoice();
}

function describeChoice() {
  const optimizer = state.info.optimizers.find((o) => o.name === $('train-optimizer').value);
  const schedule = state.info.schedules.find((s) => s.name === $('train-schedule').value);
  $('train-help').textContent = `${optimizer.name}: ${optimizer.summary}. Schedule ${schedule.name}: ${schedule.summary}.`;
}

async function startRun(event) {
  event.preventDefault();
  const body = {
    optimizer: $('train-optimizer').value,
    lr: Number($('train-lr').value),
    schedule: $('train-schedule').value,
    epochs: Number($('train-epochs').value),
    train_samples: Number($('train-samples').value),
    model: $('train-model').value,
  };
  $('train-start').disabled = true;
  try {
    addRun(await postJson('/api/runs', body));
    showError($('train-error'), null);
  } catch (error) {
    showError($('train-error'), error);
  } finally {
    $('train-start').disabled = false;
  }
}

async function loadRuns() {
  (await api('/api/runs')).forEach(addRun);
}

function addRun(entry) {
  if (runs.has(entry.id)) return;
  const color = PALETTE[runs.size % PALETTE.length];
  const dataset = () => ({label: entry.id, data: [], borderColor: color, backgroundColor: color});
  const run = {entry, color, loss: dataset(), accuracy: dataset(), source: null, connection: 'open'};
  runs.set(entry.id, run);
  lossChart.data.datasets.push(run.loss);
  accuracyChart.data.datasets.push(run.accuracy);
  $('run-table').tBodies[0].prepend(makeRunRow(run));  // newest first, next to the charts
  $('runs-empty').hidden = true;
  setPlotted(run, true);
  const plotted = [...runs.values()].filter((r) => r.plotted);
  if (plotted.length > MAX_PLOTTED) setPlotted(plotted[0], false);
  renderRun(run);
  listenToRun(run);
}

function setPlotted(run, plotted) {
  run.plotted = plotted;
  run.plotBox.checked = plotted;
  run.loss.hidden = run.accuracy.hidden = !plotted;
  updateChartSoon(lossChart);
  updateChartSoon(accuracyChart);
}

// The row is built once and its cells updated in place: buttons replaced
// on every event would lose clicks.
function makeRunRow(run) {
  const cell = (className) => el('td', {class: className});
  run.cells = {setup: cell('setup'), state: cell(''), step: cell('num'), loss: cell('num'), accuracy: cell('num')};
  run.stopButton = el('button', {type: 'button', class: 'stop', text: 'Stop', onclick: () => stopRun(run)});
  const use = el('button', {type: 'button', class: 'use', text: 'Use in Draw', onclick: () => useInDraw(run)});
  run.plotBox = el('input', {type: 'checkbox', title: 'Plot this run', onchange: () => setPlotted(run, run.plotBox.checked)});
  const {setup, state: stateCell, step, loss, accuracy} = run.cells;
  run.row = el('tr', {'data-run': run.entry.id}, [
    el('td', {}, [el('label', {class: 'check'}, [run.plotBox,
      el('span', {class: 'swatch', style: `background:${run.color}`}), run.entry.id])]),
    setup, stateCell, step, loss, accuracy, el('td', {class: 'actions'}, [run.stopButton, use])]);
  return run.row;
}

// What each event of a run's stream does to the run.
const RUN_EVENTS = {
  step(run, e) {
    if (e.loss != null) run.loss.data.push({x: e.step, y: e.loss});
    Object.assign(run.entry, {step: e.step, epoch: e.epoch, loss: e.loss});
  },
  epoch(run, e) {
    run.accuracy.data.push({x: e.epoch + 1, y: 100 * e.accuracy});
    run.entry.accuracy = e.accuracy;
  },
  finished: (run, e) => endRun(run, {state: 'finished', accuracy: e.accuracy, step: e.steps}),
  stopped: (run, e) => endRun(run, {state: 'stopped', step: e.steps}),
  diverged: (run, e) => endRun(run, {state: 'diverged', error: e.message, step: e.steps}),
  failed: (run, e) => endRun(run, {state: 'failed', error: e.message}),
};

function listenToRun(run) {
  const source = new EventSource(`/api/runs/${encodeURIComponent(run.entry.id)}/events`);
  run.source = source;
  // Every connection replays the run from its start, so the series start
  // empty again whenever the stream (re)opens.
  source.addEventListener('open', () => {
    run.loss.data.length = 0;
    run.accuracy.data.length = 0;
    run.connection = 'open';
  });
  // After a dropped connection the browser retries by itself; after a
  // refused one (not a 200 event stream) it gives up. The row says which.
  source.addEventListener('error', () => {
    run.connection = source.readyState === EventSource.CLOSED ? 'lost' : 'retrying';
    renderRun(run);
  });
  for (const [name, handle] of Object.entries(RUN_EVENTS)) {
    source.addEventListener(name, (event) => {
      handle(run, JSON.parse(event.data));
      renderRun(run);
      updateChartSoon(lossChart);
      updateChartSoon(accuracyChart);
    });
  }
}

// The stream ends after a run's last event; closing it keeps the browser
// from reconnecting and replaying it all again.
function endRun(run, changes) {
  run.source.close();
  Object.assign(run.entry, changes);
  refreshModelsSoon();
}

function renderRun(run) {
  const e = run.entry;
  const setup = [`${e.optimizer} lr ${e.lr}`, e.schedule, `${e.epochs} × ${e.train_samples} samples`];
  const checkpoint = state.models.find((m) => m.id === e.model);
  if (checkpoint) setup.unshift(checkpoint.model);
  run.cells.setup.textContent = setup.join(' · ');
  run.cells.state.replaceChildren(el('span', {class: `badge state-${e.state}`, text: e.state}));
  if (e.error) run.cells.state.append(el('div', {class: 'error-text', text: e.error}));
  if (e.state === 'running' && run.connection !== 'open') {
    const note = run.connection === 'lost' ? 'no live updates: the event stream was refused; reload to retry'
      : 'connection lost, reconnecting…';
    run.cells.state.append(el('div', {class: 'error-text', text: note}));
  }
  run.cells.step.textContent = `${e.step} / ${e.total_steps}`;
  run.cells.loss.textContent = decimals(e.loss);
  run.cells.accuracy.textContent = percent(e.accuracy);
  run.row.dataset.state = e.state;
  run.stopButton.hidden = e.state !== 'running';
}

async function stopRun(run) {
  run.stopButton.disabled = true;
  try {
    // The run's stream reports the stop; the answer's entry may predate it.
    await api(`/api/runs/${encodeURIComponent(run.entry.id)}/stop`, {method: 'POST'});
    showError($('train-error'), null);
  } catch (error) {
    showError($('train-error'), error);
  }
  renderRun(run);
}

async function useInDraw(run) {
  const id = run.entry.model;
  try {
    if (!state.models.some((m) => m.id === id)) await refreshModels();
  } catch (error) {
    showError($('train-error'), error);
    return;
  }
  if (!state.models.some((m) => m.id === id)) {
    showError($('train-error'), new Error(`${id}: no checkpoint yet; it has one once it finishes or is stopped`));
    return;
  }
  $('draw-model').value = id;
  showTab('draw');
  predictAgain();
}

// ---------------------------------------------------------------- experiments

function setupExperiments() {
  tabOpened.experiments = loadExperiments;
  $('experiments-refresh').addEventListener('click', loadExperiments);
  $('experiment-select').addEventListener('change', () => showExperiment($('experiment-select').value));
}

async function loadExperiments() {
  const select = $('experiment-select');
  try {
    const list = await api('/api/experiments');
    const current = select.value;
    const label = (x) => (x.runs == null ? x.name : `${x.name} (${x.runs} runs)`);
    select.replaceChildren(...list.map((x) => el('option', {value: x.name, text: label(x)})));
    showError($('experiments-error'), null);
    if (list.length === 0) {
      $('experiment-view').replaceChildren(el('p', {class: 'muted',
        text: 'No experiments yet. Run e.g. "mnist compare --optimizers sgd,adam --out RUNS/quick" with RUNS the server\'s --runs folder.'}));
      return;
    }
    if (list.some((x) => x.name === current)) select.value = current;
    await showExperiment(select.value);
  } catch (error) {
    showError($('experiments-error'), error);
  }
}

async function showExperiment(name) {
  try {
    const x = await api(`/api/experiments/${encodeURIComponent(name)}`);
    $('experiment-view').replaceChildren(
      el('div', {class: 'card table-scroll'}, [summaryTable(x.rows)]),
      el('div', {class: 'figures'}, preferredFigures(x.figures).map((file) => figure(name, file))));
    showError($('experiments-error'), null);
  } catch (error) {
    showError($('experiments-error'), error);
  }
}

function summaryTable(rows) {
  if (rows.length === 0) return el('p', {class: 'muted', text: 'The summary has no rows.'});
  const columns = Object.keys(rows[0]);
  const isNumber = (v) => v !== '' && v !== null && !Number.isNaN(Number(v));
  return el('table', {class: 'summary'}, [
    el('thead', {}, [el('tr', {}, columns.map((c) => el('th', {text: c.replace(/_/g, ' ')})))]),
    el('tbody', {}, rows.map((row) => el('tr', {}, columns.map((c) =>
      el('td', {class: isNumber(row[c]) ? 'num' : '', text: row[c] == null ? '' : row[c]}))))),
  ]);
}

// One file per figure: the SVG when both it and the PNG exist.
function preferredFigures(files) {
  const byStem = new Map();
  for (const file of files) {
    const stem = file.replace(/\.(svg|png)$/i, '');
    if (!byStem.has(stem) || /\.svg$/i.test(file)) byStem.set(stem, file);
  }
  return [...byStem.values()];
}

function figure(experiment, file) {
  const src = `/api/experiments/${encodeURIComponent(experiment)}/files/${encodeURIComponent(file)}`;
  const caption = el('figcaption', {}, [el('a', {href: src, target: '_blank', rel: 'noopener', text: file})]);
  const img = el('img', {src, alt: `${experiment}: ${file}`, loading: 'lazy'});
  img.addEventListener('error', () => caption.append(el('span', {class: 'error-text', text: ' could not be loaded'})));
  return el('figure', {class: 'card'}, [img, caption]);
}

// ---------------------------------------------------------------- mistakes

const mistakes = {data: null};

function setupMistakes() {
  tabOpened.mistakes = loadMistakes;
  $('mistakes-load').addEventListener('click', loadMistakes);
  $('mistakes-model').addEventListener('change', loadMistakes);
  $('mistakes-all').addEventListener('click', () => showMistakes(null, null));
}

async function loadMistakes() {
  const model = $('mistakes-model').value;
  if (!model) {
    showError($('mistakes-error'), new Error('No model to evaluate: start --serve with --model, or train one.'));
    return;
  }
  $('mistakes-load').disabled = true;
  $('mistakes-status').textContent = 'Evaluating the test set…';
  try {
    mistakes.data = await api(`/api/mistakes?${new URLSearchParams({model, limit: 500})}`);
    const d = mistakes.data;
    $('mistakes-status').textContent =
      `${d.model}: ${percent(d.accuracy)} right on ${d.samples} test digits, ${countWrong(d.confusion)} wrong`;
    renderConfusion(d.confusion);
    showMistakes(null, null);
    showError($('mistakes-error'), null);
  } catch (error) {
    $('mistakes-status').textContent = '';
    showError($('mistakes-error'), error);
  } finally {
    $('mistakes-load').disabled = false;
  }
}

function countWrong(confusion) {
  return confusion.reduce((sum, row, t) => sum + row.reduce((s, n, p) => s + (t === p ? 0 : n), 0), 0);
}

// Diagonal cells (right answers) in green, the others in red, both deeper
// with the count; the square root keeps small counts visible.
function cellColour(count, isDiagonal, max) {
  if (count === 0) return 'transparent';
  const strength = 0.12 + 0.78 * Math.sqrt(count / max);
  return isDiagonal ? `rgba(22, 163, 74, ${strength})` : `rgba(220, 38, 38, ${strength})`;
}

function renderConfusion(confusion) {
  const maxOff = Math.max(1, ...confusion.flatMap((row, t) => row.filter((_, p) => p !== t)));
  const maxDiag = Math.max(1, ...confusion.map((row, t) => row[t]));
  const head = el('tr', {}, [el('td', {class: 'corner'}),
    ...confusion.map((_, p) => el('th', {scope: 'col', text: p}))]);
  const rows = confusion.map((row, t) => el('tr', {}, [el('th', {scope: 'row', text: t}),
    ...row.map((count, p) => {
      const cell = el('td', {class: t === p ? 'cell diagonal' : 'cell', 'data-true': t, 'data-predicted': p},
        [el('button', {type: 'button', text: count, 'aria-label': `true ${t}, predicted ${p}: ${count}`,
          onclick: () => showMistakes(t, p)})]);
      cell.style.background = cellColour(count, t === p, t === p ? maxDiag : maxOff);
      return cell;
    })]));
  $('confusion').replaceChildren(el('caption', {text: 'Rows: the true digit. Columns: the model\'s answer.'}),
    el('thead', {}, [head]), el('tbody', {}, rows));
}

// Shows the mistakes of one cell, or all of them when label is null.
function showMistakes(label, predicted) {
  const all = mistakes.data.mistakes;
  const shown = label === null ? all : all.filter((m) => m.label === label && m.predicted === predicted);
  const count = label === null ? countWrong(mistakes.data.confusion) : mistakes.data.confusion[label][predicted];
  let title = label === null ? `All mistakes (${count})` : `True ${label}, predicted ${predicted} (${count})`;
  if (shown.length < count && label !== predicted) title += `: the first ${shown.length} shown`;
  $('mistakes-title').textContent = title;
  $('mistakes-all').hidden = label === null;
  document.querySelectorAll('#confusion td.cell').forEach((cell) => cell.classList.toggle('selected',
    Number(cell.dataset.true) === label && Number(cell.dataset.predicted) === predicted));
  const list = $('mistake-list');
  if (label !== null && label === predicted) {
    list.replaceChildren(el('p', {class: 'muted', text: `${count} right answers: this cell holds no mistakes.`}));
  } else if (shown.length === 0) {
    list.replaceChildren(el('p', {class: 'muted', text: 'No mistakes here.'}));
  } else {
    list.replaceChildren(...shown.map(mistakeFigure));
  }
}

function mistakeFigure(m) {
  const canvas = el('canvas', {width: 28, height: 28, class: 'digit'});
  paintGrey(canvas, Uint8Array.from(atob(m.pixels), (c) => c.charCodeAt(0)));
  return el('figure', {class: 'mistake', title: `test image #${m.index}: ${percent(m.probability)} for ${m.predicted}`}, [
    canvas, el('figcaption', {text: `${m.label} → ${m.predicted}`})]);
}

// ---------------------------------------------------------------- trajectories

// What makes each function hard, in one line for learners.
const FUNCTION_NOTES = {
  rosenbrock: 'Rosenbrock: a long, curved, almost flat valley. Reaching the valley is easy; following it to the minimum at (1, 1) is slow.',
  beale: 'Beale: flat plateaus beside steep walls, so the gradient\'s size changes by orders of magnitude; the minimum is at (3, 0.5).',
  saddle: 'Saddle: downhill one way, uphill the other. Near the saddle point the gradient is tiny, and plain gradient descent lingers there.',
  quadratic: 'Quadratic: an elongated bowl. The gradient points across the valley more than along it, so plain SGD zig-zags; momentum and adaptive steps help.',
};
// Default optimizers to compare.
const TRAJ_DEFAULTS = ['sgd', 'momentum', 'adam'];

// size: the canvas's side in CSS pixels; it holds size × devicePixelRatio
// pixels, so that lines and labels stay sharp on phones.
const traj = {data: null, background: null, size: 560, dpr: 1, step: 0, playing: false, lastTime: 0, chart: null};
// Margins of the plot area in the trajectory canvas, in CSS pixels (room for the axes).
const PLOT = {left: 46, top: 12, right: 12, bottom: 36};

function setupTrajectories() {
  const box = $('traj-optimizers');
  for (const o of state.info.optimizers) {
    const input = el('input', {type: 'checkbox', name: 'optimizer', value: o.name});
    input.checked = TRAJ_DEFAULTS.includes(o.name);
    box.append(el('label', {class: 'check'}, [input, ` ${o.name}`]));
  }
  $('traj-function').addEventListener('change', explainFunction);
  $('traj-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadTrajectories();
  });
  $('traj-play').addEventListener('click', () => (traj.playing ? pause() : play()));
  $('traj-slider').addEventListener('input', () => {
    pause();
    setStep(Number($('traj-slider').value));
  });
  traj.chart = lineChart($('traj-loss-chart'), 'step', 'loss', {plugins: [stepMarker]});
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(refitTrajectories, 200);
  });
  explainFunction();
}

function explainFunction() {
  $('traj-explain').textContent = FUNCTION_NOTES[$('traj-function').value] || '';
}

async function loadTrajectories() {
  const optimizers = [...document.querySelectorAll('#traj-optimizers input:checked')].map((i) => i.value);
  if (optimizers.length === 0) {
    showError($('traj-error'), new Error('Choose at least one optimizer.'));
    return;
  }
  const query = new URLSearchParams({function: $('traj-function').value, optimizers: optimizers.join(','),
    steps: $('traj-steps').value});
  pause();
  $('traj-run').disabled = true;
  try {
    traj.data = await api(`/api/trajectories?${query}`);
    showError($('traj-error'), null);
  } catch (error) {
    showError($('traj-error'), error);
    return;
  } finally {
    $('traj-run').disabled = false;
  }
  fitTrajectoryCanvas();
  traj.background = renderContours(traj.data);
  const steps = Math.max(...traj.data.paths.map((p) => p.points.length - 1));
  Object.assign($('traj-slider'), {max: steps, disabled: false});
  $('traj-play').disabled = false;
  renderLegend();
  renderTrajectoryLosses();
  setStep(0);
  play();
}

// Sizes the canvas's pixels to its displayed size; says whether they changed.
function fitTrajectoryCanvas() {
  const canvas = $('traj-canvas');
  const size = Math.round(canvas.clientWidth) || 560, dpr = window.devicePixelRatio || 1;
  if (size === traj.size && dpr === traj.dpr && canvas.width === Math.round(size * dpr)) return false;
  Object.assign(traj, {size, dpr});
  canvas.width = canvas.height = Math.round(size * dpr);
  return true;
}

function refitTrajectories() {
  if (traj.data && !$('panel-trajectories').hidden && fitTrajectoryCanvas()) {
    traj.background = renderContours(traj.data);
    drawTrajectoryFrame();
  }
}

// The plot area in CSS pixels.
function plotArea() {
  return {x: PLOT.left, y: PLOT.top, w: traj.size - PLOT.left - PLOT.right, h: traj.size - PLOT.top - PLOT.bottom};
}

// Maps function coordinates to CSS pixels of the canvas, y upwards.
function toPixel(data, [x, y]) {
  const area = plotArea();
  return [area.x + ((x - data.x_range[0]) / (data.x_range[1] - data.x_range[0])) * area.w,
    area.y + (1 - (y - data.y_range[0]) / (data.y_range[1] - data.y_range[0])) * area.h];
}

// Near white (low) to a muted blue (high), for the bands between levels:
// light enough for the coloured paths to stand out.
function bandColour(t) {
  const stops = [[255, 252, 240], [236, 242, 232], [211, 228, 236], [184, 206, 228], [158, 183, 214]];
  const s = Math.min(stops.length - 1.0001, t * (stops.length - 1));
  const i = Math.floor(s), f = s - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

// The value of the grid at fractional grid indices (bilinear).
function gridValue(values, gx, gy) {
  const x0 = Math.min(Math.floor(gx), values[0].length - 2), y0 = Math.min(Math.floor(gy), values.length - 2);
  const fx = gx - x0, fy = gy - y0;
  const top = values[y0][x0] * (1 - fx) + values[y0][x0 + 1] * fx;
  const bottom = values[y0 + 1][x0] * (1 - fx) + values[y0 + 1][x0 + 1] * fx;
  return top * (1 - fy) + bottom * fy;
}

// Number of levels at or below v (levels increase).
function bandOf(levels, v) {
  let lo = 0, hi = levels.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (levels[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Draws filled contour bands, contour lines and axes into an offscreen
// canvas, once per answer (and size); each animation frame copies it.
function renderContours(data) {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = $('traj-canvas').width;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.putImageData(contourBands(data), Math.round(PLOT.left * traj.dpr), Math.round(PLOT.top * traj.dpr));
  ctx.setTransform(traj.dpr, 0, 0, traj.dpr, 0, 0);
  drawContourLines(ctx, data);
  drawAxes(ctx, data);
  drawMarker(ctx, toPixel(data, data.start), 'start', '#111');
  if (data.minimum) drawMarker(ctx, toPixel(data, data.minimum), 'minimum', '#111');
  return canvas;
}

// The plot area's pixels (device pixels: putImageData ignores transforms),
// each coloured by the band of levels its interpolated value falls in.
function contourBands(data) {
  const {values, x: gxs, y: gys} = data.grid;
  const area = plotArea();
  const w = Math.round(area.w * traj.dpr), h = Math.round(area.h * traj.dpr);
  const image = new ImageData(w, h);
  // The grid is evenly spaced: a point's grid index is a linear map.
  const index = (v, grid) => Math.max(0, Math.min(grid.length - 1,
    ((v - grid[0]) / (grid[grid.length - 1] - grid[0])) * (grid.length - 1)));
  for (let py = 0; py < h; py++) {
    const gy = index(data.y_range[1] - ((py + 0.5) / h) * (data.y_range[1] - data.y_range[0]), gys);
    for (let px = 0; px < w; px++) {
      const gx = index(data.x_range[0] + ((px + 0.5) / w) * (data.x_range[1] - data.x_range[0]), gxs);
      const colour = bandColour(bandOf(data.levels, gridValue(values, gx, gy)) / data.levels.length);
      image.data.set([...colour, 255], 4 * (py * w + px));
    }
  }
  return image;
}

// Marching squares: for each grid cell and level, the segment where the
// level crosses the cell's edges (saddle cells get both pairs joined).
function drawContourLines(ctx, data) {
  const {values, x: xs, y: ys} = data.grid;
  const crossing = (v0, v1, level, a, b) => a + ((level - v0) / (v1 - v0)) * (b - a);
  const area = plotArea();
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.x, area.y, area.w, area.h);
  ctx.clip();
  ctx.strokeStyle = 'rgba(20, 30, 60, 0.35)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (const level of data.levels) {
    for (let j = 0; j + 1 < ys.length; j++) {
      for (let i = 0; i + 1 < xs.length; i++) {
        const a = values[j][i], b = values[j][i + 1], c = values[j + 1][i + 1], d = values[j + 1][i];
        const points = [];
        if ((a < level) !== (b < level)) points.push([crossing(a, b, level, xs[i], xs[i + 1]), ys[j]]);
        if ((b < level) !== (c < level)) points.push([xs[i + 1], crossing(b, c, level, ys[j], ys[j + 1])]);
        if ((c < level) !== (d < level)) points.push([crossing(d, c, level, xs[i], xs[i + 1]), ys[j + 1]]);
        if ((d < level) !== (a < level)) points.push([xs[i], crossing(a, d, level, ys[j], ys[j + 1])]);
        for (let k = 0; k + 1 < points.length; k += 2) {
          ctx.moveTo(...toPixel(data, points[k]));
          ctx.lineTo(...toPixel(data, points[k + 1]));
        }
      }
    }
  }
  ctx.stroke();
  ctx.restore();
}

function niceTicks(lo, hi, count = 5) {
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function drawAxes(ctx, data) {
  const area = plotArea();
  const bottom = area.y + area.h, right = area.x + area.w;
  ctx.strokeStyle = '#555';
  ctx.strokeRect(area.x, area.y, area.w, area.h);
  ctx.fillStyle = '#333';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const t of niceTicks(...data.x_range)) ctx.fillText(t, toPixel(data, [t, 0])[0], bottom + 4);
  ctx.fillText('x', (PLOT.left + right) / 2, bottom + 20);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const t of niceTicks(...data.y_range)) ctx.fillText(t, PLOT.left - 5, toPixel(data, [0, t])[1]);
  ctx.fillText('y', PLOT.left - 32, (PLOT.top + bottom) / 2);
}

function drawMarker(ctx, [px, py], label, colour) {
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.fillStyle = '#fff';
  ctx.lineWidth = 2;
  ctx.beginPath();
  if (label === 'start') ctx.arc(px, py, 6, 0, 2 * Math.PI);
  else ctx.rect(px - 5, py - 5, 10, 10);
  ctx.fill();
  ctx.stroke();
  ctx.font = 'bold 12px system-ui, sans-serif';
  ctx.fillStyle = colour;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'bottom';
  ctx.fillText(label, px + 8, py - 4);
  ctx.restore();
}

function renderLegend() {
  $('traj-legend').replaceChildren(...traj.data.paths.map((p, i) => el('li', {}, [
    el('span', {class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}`}),
    `${p.optimizer} (lr ${p.lr})`, el('span', {class: 'muted', 'data-optimizer': p.optimizer})])));
}

function renderTrajectoryLosses() {
  const chart = traj.chart;
  chart.data.datasets = traj.data.paths.map((p, i) => ({
    label: p.optimizer,
    data: p.losses.map((loss, step) => ({x: step, y: loss})),
    borderColor: PALETTE[i % PALETTE.length],
    backgroundColor: PALETTE[i % PALETTE.length],
  }));
  // A logarithmic axis shows the slow end of Rosenbrock's valley, but only
  // works when every loss is positive (not for the saddle).
  const losses = traj.data.paths.flatMap((p) => p.losses).filter((v) => v != null);
  const log = losses.every((v) => v > 0);
  Object.assign(chart.options.scales.y, {type: log ? 'logarithmic' : 'linear', ticks: log ? {callback: logTick} : {}});
  chart.update('none');
}

// Labels only 1, 2 and 5 times a power of ten: the others crowd a log axis.
function logTick(value) {
  const mantissa = value / 10 ** Math.floor(Math.log10(value) + 1e-9);
  return [1, 2, 5].some((m) => Math.abs(mantissa - m) < 1e-6) ? String(Number(value.toPrecision(1))) : '';
}

// A Chart.js plugin: a vertical line at the animation's current step.
const stepMarker = {
  id: 'stepMarker',
  afterDatasetsDraw(chart) {
    if (!traj.data) return;
    const x = chart.scales.x.getPixelForValue(traj.step);
    const {top, bottom} = chart.chartArea;
    chart.ctx.save();
    chart.ctx.strokeStyle = 'rgba(0, 0, 0, 0.4)';
    chart.ctx.setLineDash([4, 4]);
    chart.ctx.beginPath();
    chart.ctx.moveTo(x, top);
    chart.ctx.lineTo(x, bottom);
    chart.ctx.stroke();
    chart.ctx.restore();
  },
};

function setStep(step) {
  traj.step = step;
  $('traj-slider').value = step;
  $('traj-step').textContent = step;
  drawTrajectoryFrame();
  traj.chart.draw();
}

// The paths up to the current step, each ending in a dot. A path that left
// the finite numbers (null points) stops where it did.
function drawTrajectoryFrame() {
  const ctx = $('traj-canvas').getContext('2d');
  const area = plotArea();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(traj.background, 0, 0);
  ctx.setTransform(traj.dpr, 0, 0, traj.dpr, 0, 0);
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.x, area.y, area.w, area.h);
  ctx.clip();
  traj.data.paths.forEach((path, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const points = path.points.slice(0, traj.step + 1).filter((p) => p && p[0] != null && p[1] != null);
    if (points.length === 0) return;
    const pixels = points.map((p) => toPixel(traj.data, p));
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    pixels.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    const [x, y] = pixels[pixels.length - 1];
    ctx.fillStyle = colour;
    ctx.strokeStyle = '#fff';
    ctx.beginPath();
    ctx.arc(x, y, 6, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  });
  ctx.restore();
  updateLegendLosses();
}

// Each optimizer's loss at the current step, and whether it left the plot.
function updateLegendLosses() {
  const {x_range: xr, y_range: yr} = traj.data;
  traj.data.paths.forEach((path) => {
    const step = Math.min(traj.step, path.losses.length - 1);
    const loss = path.losses[step], point = path.points[step];
    const inside = point && point[0] >= xr[0] && point[0] <= xr[1] && point[1] >= yr[0] && point[1] <= yr[1];
    document.querySelector(`#traj-legend [data-optimizer="${path.optimizer}"]`).textContent =
      loss == null ? ' diverged' : ` loss ${loss.toPrecision(3)}${inside ? '' : ', off the plot'}`;
  });
}

// The whole path plays in about six seconds, whatever the number of steps.
function play() {
  const steps = Number($('traj-slider').max);
  if (traj.step >= steps) setStep(0);
  traj.playing = true;
  $('traj-play').textContent = '❚❚ Pause';
  traj.lastTime = performance.now();
  let position = traj.step;
  const frame = (now) => {
    if (!traj.playing) return;
    position = Math.min(steps, position + ((now - traj.lastTime) / 1000) * Math.max(20, steps / 6));
    traj.lastTime = now;
    if (Math.floor(position) !== traj.step) setStep(Math.floor(position));
    if (traj.step >= steps) pause();
    else requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function pause() {
  traj.playing = false;
  $('traj-play').textContent = '▶ Play';
}

// ---------------------------------------------------------------- start

async function init() {
  setupTabs();
  setupDraw();
  const hash = location.hash.slice(1);
  showTab(TABS.includes(hash) ? hash : 'draw');
  try {
    state.info = await api('/api/info');
    $('version').textContent = `v${state.info.version}`;
    await refreshModels();
  } catch (error) {
    showError($('global-error'), error);
    return;
  }
  setupExperiments();
  setupMistakes();
  if (typeof Chart === 'undefined') {
    showError($('global-error'), new Error('Chart.js did not load from /chart.js: Train and Trajectories need it.'));
  } else {
    setupTrain();
    setupTrajectories();
    loadRuns().catch((error) => showError($('global-error'), error));
  }
  openTab(currentTab);  // the tab shown before the data arrived
}

init();
