// The ladder of a pktlab report, drawn from the JSON data in #pktlab-data: one lane per
// node (per interface for a node with several), one arrow per frame. Time runs down;
// each gap between rows is at least ROW pixels and otherwise `scale` pixels a second,
// so zoom stretches the long gaps and keeps bursts legible.
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var D = JSON.parse(document.getElementById('pktlab-data').textContent);
  var svg = document.getElementById('ladder');
  var box = document.getElementById('ladder-box');
  var tip = document.getElementById('tip');
  var bytesView = document.getElementById('bytes');
  var LEFT = 120, GAP = 230, SUBGAP = 90, TOP = 60, ROW = 22;
  var scale = 1000;
  var chatter = false;

  var xs = [], x = LEFT;
  D.lanes.forEach(function (l, i) {
    if (i > 0) x += l.node === D.lanes[i - 1].node ? SUBGAP : GAP;
    xs.push(x);
  });
  var width = x + 560; // room for the notes of the rightmost lane

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function shown(r) { return chatter || !r.c; }

  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var y = TOP, prev = null, ys = [];
    D.rows.forEach(function (r) {
      if (!shown(r)) { ys.push(null); return; }
      if (prev !== null) y += Math.max(ROW, (r.t - prev) * scale);
      ys.push(y);
      prev = r.t;
    });
    var height = y + 40;
    svg.setAttribute('width', width);
    svg.setAttribute('height', height);
    svg.dataset.scale = String(scale);
    D.lanes.forEach(function (l, i) {
      svg.appendChild(el('line', { 'class': 'lane', x1: xs[i], y1: 38, x2: xs[i], y2: height }));
      var sub = l.name !== l.node;
      var first = i === 0 || D.lanes[i - 1].node !== l.node;
      if (sub && first) {
        var last = i;
        while (last + 1 < D.lanes.length && D.lanes[last + 1].node === l.node) last++;
        svg.appendChild(el('text', { 'class': 'lane-name', x: (xs[i] + xs[last]) / 2, y: 16, 'text-anchor': 'middle' }, l.node));
      }
      svg.appendChild(el('text', { 'class': sub ? 'lane-iface' : 'lane-name', x: xs[i], y: sub ? 32 : 16, 'text-anchor': 'middle' }, sub ? l.name.slice(l.node.length + 1) : l.name));
    });
    D.rows.forEach(function (r, i) {
      if (ys[i] === null) return;
      svg.appendChild(el('text', { 'class': 'time', x: 4, y: ys[i] + 4 }, r.t.toFixed(6)));
      if (r.k === 'frame') frame(r, i, ys[i]); else note(r, ys[i]);
    });
    document.getElementById('scale').textContent = 'time scale ' + scale + ' px/s';
  }

  function frame(r, i, y) {
    var x1 = xs[r.a], x2 = xs[r.b || 0];
    var end = r.lost ? (x1 + x2) / 2 : x2;
    var dir = x2 >= x1 ? 1 : -1;
    var cls = 'arrow' + (r.m || r.lost ? ' died' : '') + (r.nat ? ' nat' : '') + (r.c ? ' chatter' : '');
    var g = el('g', { 'class': cls, 'data-i': i });
    if (r.ni) {
      var xn = xs[r.ni - 1];
      g.appendChild(el('line', { 'class': 'natline', x1: xn, y1: y, x2: x1, y2: y }));
    }
    g.appendChild(el('line', { x1: x1, y1: y, x2: end, y2: y }));
    if (r.lost || r.m) {
      g.appendChild(el('text', { 'class': 'x', x: end - dir * 4, y: y + 5, 'text-anchor': 'middle' }, '\u00d7'));
    } else {
      g.appendChild(el('polygon', { points: end + ',' + y + ' ' + (end - dir * 8) + ',' + (y - 4) + ' ' + (end - dir * 8) + ',' + (y + 4) }));
    }
    g.appendChild(el('text', { 'class': 'label', x: (x1 + end) / 2, y: y - 4, 'text-anchor': 'middle' }, r.l));
    g.appendChild(el('line', { 'class': 'hit', x1: x1, y1: y, x2: end, y2: y }));
    g.addEventListener('mouseenter', function (ev) { showTip(r, ev); });
    g.addEventListener('mousemove', function (ev) { placeTip(ev); });
    g.addEventListener('mouseleave', function () { tip.hidden = true; });
    g.addEventListener('click', function () { showBytes(r, i); });
    svg.appendChild(g);
  }

  function note(r, y) {
    var cls = 'note ' + r.k + (r.fail ? ' fail' : '');
    var xa = r.a >= 0 ? xs[r.a] + 6 : LEFT;
    svg.appendChild(el('text', { 'class': cls, x: xa, y: y + 4 }, r.l));
  }

  function showTip(r, ev) {
    var s = r.d || r.l;
    if (r.nat) s += '  [NAT: was ' + r.nat + ']';
    if (r.m) s += '  [' + r.m + ']';
    if (r.lost) s += '  [never seen at the other end of the link]';
    tip.textContent = s;
    tip.hidden = false;
    placeTip(ev);
  }

  function placeTip(ev) {
    tip.style.left = (ev.clientX + 12) + 'px';
    tip.style.top = (ev.clientY + 12) + 'px';
  }

  function hex(n, w) { var s = n.toString(16); while (s.length < w) s = '0' + s; return s; }

  function showBytes(r, i) {
    var raw = atob(r.x || ''), out = [];
    for (var off = 0; off < raw.length; off += 16) {
      var h = [], a = '';
      for (var j = off; j < Math.min(off + 16, raw.length); j++) {
        var c = raw.charCodeAt(j);
        h.push(hex(c, 2));
        a += c >= 32 && c < 127 ? raw[j] : '.';
      }
      while (h.length < 16) h.push('  ');
      out.push(hex(off, 4) + '  ' + h.join(' ') + '  ' + a);
    }
    var head = 'row ' + i + ': ' + (r.d || r.l) + '\n' + r.n + ' bytes' +
      (raw.length < r.n ? ' (the headers and the first ' + (raw.length) + ' bytes shown)' : '') + '\n';
    bytesView.textContent = head + out.join('\n');
  }

  function zoom(f) { scale = Math.max(1, Math.min(1e7, scale * f)); draw(); }
  document.getElementById('zoom-in').addEventListener('click', function () { zoom(2); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoom(0.5); });
  document.getElementById('chatter').addEventListener('change', function (ev) { chatter = ev.target.checked; draw(); });
  box.addEventListener('wheel', function (ev) {
    if (!ev.ctrlKey) return;
    ev.preventDefault();
    zoom(ev.deltaY < 0 ? 2 : 0.5);
  }, { passive: false });
  var drag = null;
  box.addEventListener('mousedown', function (ev) { drag = { x: ev.clientX, y: ev.clientY, l: box.scrollLeft, t: box.scrollTop }; });
  window.addEventListener('mouseup', function () { drag = null; });
  box.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    box.scrollLeft = drag.l - (ev.clientX - drag.x);
    box.scrollTop = drag.t - (ev.clientY - drag.y);
  });
  draw();
  document.body.dataset.ready = '1';
})();
