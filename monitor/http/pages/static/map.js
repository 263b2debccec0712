// The district map: schools coloured by worst state, bus routes, buses at their last fix (Leaflet).
// Points arrive already in the tiles' datum (the server converts WGS-84 to GCJ-02 when configured).
(function () {
  "use strict";
  var box = document.getElementById("map");
  var source = document.getElementById("map-data");
  if (!box || !source || !window.L) { return; }
  var data = JSON.parse(source.textContent);
  var tr = box.dataset;
  var colours = { ok: "#1b6e3a", warn: "#a15c00", bad: "#b3261e" };
  var map = L.map(box, { zoomSnap: 0.5 }).setView([27.34, 103.72], 10);  // a view before any label; fitted below
  if (data.tiles) {
    L.tileLayer(data.tiles, { attribution: data.attribution || "", maxZoom: 18 }).addTo(map);
  }
  L.control.scale({ imperial: false }).addTo(map);
  var routes = L.layerGroup().addTo(map);
  var buses = L.layerGroup().addTo(map);
  var schools = L.layerGroup().addTo(map);
  var fitted = false;

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function schoolPopup(s) {
    var div = document.createElement("div");
    var title = document.createElement("strong");
    title.appendChild(link("/schools/" + encodeURIComponent(s.id), s.name));
    div.appendChild(title);
    [[tr.tPressed, s.pressed], [tr.tDark, s.dark], [tr.tDead, s.dead + "/" + s.cameras], [tr.tFiring, s.firing]]
      .forEach(function (pair) {
        var line = document.createElement("div");
        line.textContent = pair[0] + ": " + pair[1];
        div.appendChild(line);
      });
    return div;
  }

  function busPopup(b) {
    var div = document.createElement("div");
    div.appendChild(link("/buses/" + encodeURIComponent(b.id), b.plate));
    if (b.speed_kmh !== null && b.speed_kmh !== undefined) {
      div.appendChild(document.createTextNode(" · " + Math.round(b.speed_kmh) + " km/h"));
    }
    if (b.off_route) { div.appendChild(document.createTextNode(" · " + tr.tOffRoute)); }
    return div;
  }

  function draw(d) {
    routes.clearLayers(); schools.clearLayers(); buses.clearLayers();
    var bounds = [];
    d.routes.forEach(function (r) {
      L.polyline(r.path, { color: "#1a3a5c", weight: 2, opacity: 0.6, className: "route-line" }).addTo(routes);
      r.path.forEach(function (p) { bounds.push(p); });
    });
    d.buses.forEach(function (b) {  // before the schools, so a bus parked at its school is drawn under it
      L.circleMarker([b.lat, b.lon], { radius: 5, color: b.off_route ? "#b3261e" : "#0b57d0", weight: 2,
        fillColor: "#fff", fillOpacity: 1, className: "bus-marker" }).bindTooltip(b.plate).bindPopup(busPopup(b)).addTo(buses);
      bounds.push([b.lat, b.lon]);
    });
    d.schools.forEach(function (s) {
      var m = L.circleMarker([s.lat, s.lon], { radius: s.state === "bad" ? 12 : 9, color: "#fff", weight: 2,
        fillColor: colours[s.state], fillOpacity: 0.95, className: "school-marker school-" + s.state });
      m.bindTooltip(s.name, { permanent: d.schools.length <= 3, direction: "top", offset: [0, -10] });
      m.bindPopup(schoolPopup(s));
      m.addTo(schools);
      bounds.push([s.lat, s.lon]);
    });
    if (!fitted && bounds.length) { map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 }); fitted = true; }
  }

  draw(data);
  setInterval(function () {
    fetch("/map.json", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { draw(d); } })
      .catch(function () {});
  }, 10000);
})();
