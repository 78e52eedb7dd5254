// The ladder of a pktlab report, drawn from the JSON data in #pktlab-data: one lane per
// node (per interface for a node with several), one arrow per frame. Time runs down;
// each gap between rows is at least ROW pixels and otherwise `scale` pixels a second,
// so zoom stretches the long gaps and keeps bursts legible.
//
// The page opens with only what the layout needs parsed: the lanes and each row's
// time. The rows are one JSON object a line in #pktlab-rows, parsed as they are drawn,
// and only the rows in and near the visible part of the ladder are drawn; the graphs
// (#pktlab-graphs) are drawn once the ladder has been painted. So a report of 100 000
// frames opens about as fast as a short one.
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var D = JSON.parse(document.getElementById('pktlab-data').textContent);
  var rowText = document.getElementById('pktlab-rows').textContent;
  var svg = document.getElementById('ladder');
  var box = document.getElementById('ladder-box');
  var tip = document.getElementById('tip');
  var bytesView = document.getElementById('bytes');
  var LEFT = 120, GAP = 230, SUBGAP = 90, TOP = 60, ROW = 22;
  var scale = 1000;
  var chatter = false;
  var nrows = D.t.length;
  var isChat = new Uint8Array(nrows);
  (D.chat || []).forEach(function (i) { isChat[i] = 1; });

  // row is row i, parsed from its line the first time it is asked for.
  var ends = [], parsed = [];
  function row(i) {
    if (parsed[i]) return parsed[i];
    while (ends.length <= i) {
      var from = ends.length ? ends[ends.length - 1] + 1 : 0;
      ends.push(rowText.indexOf('\n', from));
    }
    var r = JSON.parse(rowText.slice(i ? ends[i - 1] + 1 : 0, ends[i]));
    r.t = D.t[i];
    r.c = isChat[i] === 1;
    parsed[i] = r;
    return r;
  }

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

  function isFrame(r) { return !r.k; }

  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var y = TOP, prev = null, ys = new Array(nrows);
    for (var i = 0; i < nrows; i++) {
      if (isChat[i] && !chatter) { ys[i] = null; continue; }
      if (prev !== null) y += Math.max(ROW, (D.t[i] - prev) * scale);
      ys[i] = y;
      prev = D.t[i];
    }
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
    layout = ys;
    rows = el('g', { 'class': 'rows' });
    svg.appendChild(rows);
    drawn = null;
    visibleRows();
    document.getElementById('scale').textContent = 'time scale ' + scale + ' px/s';
  }

  // A ladder of up to BIG rows is drawn whole. A bigger one draws only the rows in
  // and near the visible part of the box, again as it scrolls.
  var BIG = 3000, layout = [], rows = null, drawn = null;
  function visibleRows() {
    var lo = -Infinity, hi = Infinity;
    if (nrows > BIG) {
      lo = box.scrollTop - 2 * box.clientHeight;
      hi = box.scrollTop + 3 * box.clientHeight;
      if (drawn && lo >= drawn[0] && hi <= drawn[1]) return;
      lo -= 2 * box.clientHeight;
      hi += 2 * box.clientHeight;
    }
    drawn = [lo, hi];
    var g = el('g', { 'class': 'rows' });
    for (var i = lowerBound(lo); i < nrows; i++) {
      var y = layout[i];
      if (y === null) continue;
      if (y > hi) break;
      var r = row(i);
      g.appendChild(el('text', { 'class': 'time', x: 4, y: y + 4 }, r.t.toFixed(6)));
      if (isFrame(r)) frame(g, r, i, y); else note(g, r, y);
    }
    svg.replaceChild(g, rows);
    rows = g;
  }

  // lowerBound is the first row at or below y (rows hidden as chatter have no y).
  function lowerBound(y) {
    if (y === -Infinity) return 0;
    var a = 0, b = layout.length;
    while (a < b) {
      var m = (a + b) >> 1, k = m;
      while (k < b && layout[k] === null) k++;
      if (k === b || layout[k] >= y) b = m; else a = k + 1;
    }
    return a;
  }

  function frame(parent, r, i, y) {
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
    parent.appendChild(g);
  }

  function note(parent, r, y) {
    var cls = 'note ' + r.k + (r.fail ? ' fail' : '');
    var xa = r.a >= 0 ? xs[r.a] + 6 : LEFT;
    parent.appendChild(el('text', { 'class': cls, x: xa, y: y + 4 }, r.l));
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


  // A time-sequence graph per TCP flow that carried data, as tcptrace draws it: the
  // sender's segments as bars from seq to seq+len (red when retransmitted, an × where
  // they died), the receiver's ACK as a step line with the window it offered above,
  // its SACK blocks, and its duplicate ACKs circled.
  //
  // A graph is GW units wide, and a long run puts many segments in one: drawn one
  // element each, 50 000 segments took seconds to lay out. So the plain segments are
  // one path, in which those of one half-unit column that touch are one bar with a
  // tick at each distinct end; the ACK, window and SACK lines keep what changes at
  // half-unit resolution. What is drawn looks the same; the segment and the ACK
  // under the pointer are found by time and shown in the tip.
  var GW = 900, GH = 360, GM = 60;
  function half(v) { return Math.round(v * 2) / 2; }

  function graph(g) {
    var h3 = document.createElement('h3');
    h3.textContent = '[f' + g.f + '] data from ' + g.s + ', until its last byte was acknowledged';
    var s = el('svg', { 'class': 'seqgraph', 'data-flow': g.f, viewBox: '0 0 ' + (GW + 2 * GM) + ' ' + (GH + 2 * GM) });
    var span = g.t1 > g.t0 ? g.t1 - g.t0 : 0.001;
    function X(t) { return GM + (t - g.t0) / span * GW; }
    function Y(q) { return GM + GH - q / g.top * GH; }
    function add(parent, name, attrs, title) {
      var e = el(name, attrs);
      if (title) e.appendChild(el('title', {}, title));
      parent.appendChild(e);
      return e;
    }
    var ax = add(s, 'g', { 'class': 'axis' });
    add(ax, 'line', { x1: GM, y1: GM + GH, x2: GM + GW, y2: GM + GH });
    add(ax, 'line', { x1: GM, y1: GM, x2: GM, y2: GM + GH });
    ax.appendChild(el('text', { x: GM, y: GM + GH + 16 }, g.t0.toFixed(6) + ' s'));
    ax.appendChild(el('text', { x: GM + GW, y: GM + GH + 16, 'text-anchor': 'end' }, g.t1.toFixed(6) + ' s'));
    ax.appendChild(el('text', { x: GM - 4, y: GM + GH, 'text-anchor': 'end' }, '0'));
    ax.appendChild(el('text', { x: GM - 4, y: GM + 4, 'text-anchor': 'end' }, String(g.top)));
    var acks = g.ack || [], segs = g.seg || [];
    var ack = steps(), win = steps();
    acks.forEach(function (a) {
      var x = half(X(a[0]));
      ack.to(x, half(Y(a[1])));
      win.to(x, half(Y(a[2])));
      if (a[3] > 0) add(s, 'circle', { 'class': 'dup', cx: x, cy: half(Y(a[1])), r: 3 }, a[0].toFixed(6) + ' duplicate ACK ' + a[3] + ' of ' + a[1]);
    });
    if (acks.length) {
      add(s, 'path', { 'class': 'win', d: win.d });
      add(s, 'path', { 'class': 'ack', d: ack.d });
    }
    var sack = {}, sd = '';
    (g.sack || []).forEach(function (b) {
      var k = 'M' + (half(X(b[0])) + 2) + ',' + half(Y(b[1])) + 'V' + half(Y(b[2]));
      if (!sack[k]) { sack[k] = true; sd += k; }
    });
    if (sd) add(s, 'path', { 'class': 'sack', d: sd });
    add(s, 'path', { 'class': 'seg', d: bars(segs, X, Y) });
    var died = 0;
    segs.forEach(function (q) {
      if (!q[3]) return;
      var x = X(q[0]), y0 = Y(q[1]), y1 = Y(q[1] + q[2]);
      var e = add(s, 'g', { 'class': q[3] & 1 ? 'seg retx' : 'seg' }, q[0].toFixed(6) + ' seq ' + q[1] + ':' + (q[1] + q[2]));
      e.appendChild(el('line', { x1: x, y1: y0, x2: x, y2: y1 }));
      e.appendChild(el('line', { x1: x - 3, y1: y0, x2: x + 3, y2: y0 }));
      e.appendChild(el('line', { x1: x - 3, y1: y1, x2: x + 3, y2: y1 }));
      if (q[3] & 2) add(s, 'text', { 'class': 'died', x: x + 4, y: y1 }, g.died[died++]).appendChild(document.createTextNode('\u00d7'));
    });
    var key = add(s, 'g', { 'class': 'key' });
    [['seg-key', 'data', 60], ['retx-key', 'retransmission', 110], ['ack-key', 'ACK', 220], ['win-key', 'window', 260], ['sack-key', 'SACK', 320], ['dup-key', 'dup ACK', 370]].forEach(function (k) {
      key.appendChild(el('text', { 'class': k[0], x: k[2], y: 20 }, k[1]));
    });
    graphTip(s, g, span);
    var box = document.getElementById('graphs');
    box.appendChild(h3);
    box.appendChild(s);
  }

  // steps builds a step line (H then V to each point), leaving out the moves that
  // change nothing at half-unit resolution.
  function steps() {
    var p = { d: '', x: null, y: null };
    p.to = function (x, y) {
      if (p.x === null) {
        p.d = 'M' + x + ',' + y;
      } else {
        if (x !== p.x) p.d += 'H' + x;
        if (y !== p.y) p.d += 'V' + y;
      }
      p.x = x;
      p.y = y;
    };
    return p;
  }

  // bars is the path of the plain segments: per half-unit column, the touching bars
  // merged and a tick at each distinct end.
  function bars(segs, X, Y) {
    var d = '', col = null, runs = [], ticks = {};
    function flush() {
      runs.forEach(function (r) { d += 'M' + col + ',' + r[0] + 'V' + r[1]; });
      Object.keys(ticks).forEach(function (y) { d += 'M' + (col - 3) + ',' + y + 'h6'; });
      runs = [];
      ticks = {};
    }
    segs.forEach(function (q) {
      if (q[3]) return;
      var x = half(X(q[0])), top = half(Y(q[1] + q[2])), bottom = half(Y(q[1]));
      if (x !== col) { flush(); col = x; }
      ticks[top] = ticks[bottom] = true;
      var r = runs[runs.length - 1];
      if (r && top <= r[1] + 0.5 && bottom >= r[0] - 0.5) {
        r[0] = Math.min(r[0], top);
        r[1] = Math.max(r[1], bottom);
      } else {
        runs.push([top, bottom]);
      }
    });
    flush();
    return d;
  }

  // graphTip shows the segment and the ACK nearest in time to the pointer.
  function graphTip(s, g, span) {
    var segs = g.seg || [], acks = g.ack || [], sacks = g.sack || [];
    s.addEventListener('mousemove', function (ev) {
      var r = s.getBoundingClientRect();
      var t = g.t0 + ((ev.clientX - r.left) * (GW + 2 * GM) / r.width - GM) / GW * span;
      var lines = [];
      var q = segs[nearest(segs, t)];
      if (q) lines.push(q[0].toFixed(6) + ' seq ' + q[1] + ':' + (q[1] + q[2]) + (q[3] & 1 ? ' retransmission' : '') + (q[3] & 2 ? ' died' : ''));
      var a = acks[nearest(acks, t)];
      if (a) {
        var blocks = '';
        for (var i = sacks.length ? nearest(sacks, a[0]) : 0; i < sacks.length && sacks[i][0] <= a[0]; i++) {
          if (sacks[i][0] === a[0]) blocks += ' SACK ' + sacks[i][1] + ':' + sacks[i][2];
        }
        lines.push(a[0].toFixed(6) + ' ack ' + a[1] + ' window to ' + a[2] + (a[3] ? ' duplicate ' + a[3] : '') + blocks);
      }
      tip.textContent = lines.join('\n');
      tip.hidden = !lines.length;
      placeTip(ev);
    });
    s.addEventListener('mouseleave', function () { tip.hidden = true; });
  }

  // nearest is the index of the point of ps (sorted by time, ps[i][0]) nearest t.
  function nearest(ps, t) {
    var a = 0, b = ps.length;
    while (a < b) {
      var m = (a + b) >> 1;
      if (ps[m][0] < t) a = m + 1; else b = m;
    }
    if (a > 0 && (a === ps.length || t - ps[a - 1][0] < ps[a][0] - t)) a--;
    return a;
  }


  // A socket's congestion samples: cwnd and ssthresh in segments on the left scale,
  // srtt in milliseconds on its own scale.
  function congestion(c) {
    var h3 = document.createElement('h3');
    h3.textContent = c.s;
    var s = el('svg', { 'class': 'conggraph', viewBox: '0 0 ' + (GW + 2 * GM) + ' ' + (GH / 2 + 2 * GM) });
    var p = c.p, t0 = p[0][0], t1 = p[p.length - 1][0], segs = 1, rtt = 0.001;
    p.forEach(function (q) { segs = Math.max(segs, q[1], q[2] < 1e6 ? q[2] : 0); rtt = Math.max(rtt, q[3]); });
    var span = t1 > t0 ? t1 - t0 : 0.001, H = GH / 2;
    function X(t) { return (GM + (t - t0) / span * GW).toFixed(1); }
    function path(k, max) {
      var d = '';
      p.forEach(function (q, i) { var y = (GM + H - Math.min(q[k], max) / max * H).toFixed(1); d += (i ? ' H' + X(q[0]) + ' V' : 'M' + X(q[0]) + ',') + y; });
      return d;
    }
    s.appendChild(el('path', { 'class': 'cwnd', d: path(1, segs) }));
    s.appendChild(el('path', { 'class': 'ssthresh', d: path(2, segs) }));
    s.appendChild(el('path', { 'class': 'srtt', d: path(3, rtt) }));
    s.appendChild(el('text', { x: GM - 4, y: GM + 4, 'text-anchor': 'end' }, segs + ' seg'));
    s.appendChild(el('text', { x: GM + GW + 4, y: GM + 4 }, rtt.toFixed(3) + ' ms'));
    s.appendChild(el('text', { x: GM, y: 20, 'class': 'cwnd-key' }, 'cwnd'));
    s.appendChild(el('text', { x: GM + 50, y: 20, 'class': 'ssthresh-key' }, 'ssthresh'));
    s.appendChild(el('text', { x: GM + 120, y: 20, 'class': 'srtt-key' }, 'srtt'));
    var box = document.getElementById('cong');
    box.appendChild(h3);
    box.appendChild(s);
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
  var pending = false;
  box.addEventListener('scroll', function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; visibleRows(); });
  });
  box.addEventListener('mousemove', function (ev) {
    if (!drag) return;
    box.scrollLeft = drag.l - (ev.clientX - drag.x);
    box.scrollTop = drag.t - (ev.clientY - drag.y);
  });
  draw();
  // The ladder is the first screen. A task queued from the next animation frame runs
  // once that frame has been painted: it marks the time (ms since the navigation
  // began, for the benchmark) and draws the graphs below, and the page is ready.
  requestAnimationFrame(function () {
    setTimeout(function () {
      document.body.dataset.firstScreen = performance.now().toFixed(0);
      var G = JSON.parse(document.getElementById('pktlab-graphs').textContent);
      (G.graphs || []).forEach(graph);
      (G.cong || []).forEach(congestion);
      document.body.dataset.readyAt = performance.now().toFixed(0);
      document.body.dataset.ready = '1';
    }, 0);
  });
})();
