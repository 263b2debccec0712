// A bus's route, its corridor (drawn to scale at every zoom), the recent track and where it is now, on
// the configured base map (Leaflet). Without Leaflet the page keeps its plain SVG drawing.
(function () {
  "use strict";
  var box = document.getElementById("bus-leaflet");
  var source = document.getElementById("bus-data");
  if (!box || !source || !window.L) { return; }
  var d = JSON.parse(source.textContent);
  document.body.classList.add("has-leaflet");
  var map = L.map(box, { zoomSnap: 0.5 });
  if (d.tiles) { L.tileLayer(d.tiles, { attribution: d.attribution || "", maxZoom: 19 }).addTo(map); }
  L.control.scale({ imperial: false }).addTo(map);
  var corridor = null;
  var bounds = d.route.concat(d.track);
  map.fitBounds(bounds, { padding: [60, 60], maxZoom: 17 });  // a view first: permanent labels need one
  if (d.route.length) {
    corridor = L.polyline(d.route, { color: "#c6dafc", opacity: 0.7, lineCap: "round", lineJoin: "round",
      className: "corridor-line" }).addTo(map);
    L.polyline(d.route, { color: "#1a3a5c", weight: 3, className: "route-line" }).addTo(map);
    L.circleMarker(d.route[0], { radius: 5, color: "#1b6e3a", fillOpacity: 1 })
      .bindTooltip(box.dataset.tStart, { permanent: true, direction: "left" }).addTo(map);
    L.circleMarker(d.route[d.route.length - 1], { radius: 7, color: "#1a3a5c", fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(box.dataset.tSchool, { permanent: true, direction: "right" }).addTo(map);
  }
  if (d.track.length) {
    L.polyline(d.track, { color: "#b3261e", weight: 3, dashArray: "6 4", className: "track-line" }).addTo(map);
    L.circleMarker(d.track[d.track.length - 1], { radius: 8, color: "#fff", weight: 2, fillColor: "#b3261e",
      fillOpacity: 1, className: "bus-marker" }).bindTooltip(d.plate, { permanent: true, direction: "top",
      offset: [0, -8] }).addTo(map);
  }
  function corridorWidth() {  // the corridor is corridor_m each side of the line, in pixels at this zoom
    if (!corridor) { return; }
    var lat = map.getCenter().lat;
    var metresPerPixel = 40075016.686 * Math.cos(lat * Math.PI / 180) / Math.pow(2, map.getZoom() + 8);
    corridor.setStyle({ weight: Math.max(2, 2 * d.corridor_m / metresPerPixel) });
  }
  map.on("zoomend", corridorWidth);
  corridorWidth();
})();
