// The map (Leaflet, from this server), loaded only when a map is shown. Tiles come from the
// configured tile server; without one, or offline, the places still show where they are on
// a plain background, and every screen with a map has its list too.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "./i18n.js";
import { html, loadScript } from "./ui.js";

export function loadLeaflet() {
  if (!document.querySelector("link[data-leaflet]")) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/static/vendor/leaflet/leaflet.css";
    css.dataset.leaflet = "";
    document.head.appendChild(css);
  }
  return loadScript("/static/vendor/leaflet/leaflet.js", "L");
}

// Google's encoded polyline (precision 5) → [[lat, lon], ...].
export function decodePolyline(text, precision = 5) {
  const factor = 10 ** precision;
  const points = [];
  let index = 0;
  let lat = 0;
  let lon = 0;
  while (index < text.length) {
    for (const which of [0, 1]) {
      let result = 0;
      let shift = 0;
      let byte;
      do {
        byte = text.charCodeAt(index++) - 63;
        result |= (byte & 0x1f) << shift;
        shift += 5;
      } while (byte >= 0x20);
      const delta = result & 1 ? ~(result >> 1) : result >> 1;
      if (which === 0) lat += delta;
      else lon += delta;
    }
    points.push([lat / factor, lon / factor]);
  }
  return points;
}

// <MapView markers=[{lat, lon, label, color, onClick}] line=[[lat, lon]...] />
export function MapView({ config, markers, line, id = "map" }) {
  const box = useRef(null);
  const map = useRef(null);
  const layer = useRef(null);
  const [failed, setFailed] = useState(!navigator.onLine && !window.L);
  const tiles = config && config.mapTileUrl;

  useEffect(() => {
    let cancelled = false;
    loadLeaflet()
      .then((L) => {
        if (cancelled || !box.current) return;
        map.current = L.map(box.current, { zoomControl: true, attributionControl: Boolean(tiles) });
        if (tiles && navigator.onLine) {
          L.tileLayer(tiles, { maxZoom: 18, attribution: config.mapAttribution }).addTo(map.current);
        }
        layer.current = L.layerGroup().addTo(map.current);
        draw(L);
      })
      .catch(() => setFailed(true));
    return () => {
      cancelled = true;
      if (map.current) map.current.remove();
      map.current = null;
    };
  }, [tiles]);

  const draw = (L) => {
    if (!map.current || !layer.current) return;
    layer.current.clearLayers();
    const bounds = [];
    if (line && line.length) {
      L.polyline(line, { color: "#0b6e4f", weight: 4 }).addTo(layer.current);
      bounds.push(...line);
    }
    for (const m of markers || []) {
      const marker = L.circleMarker([m.lat, m.lon], {
        radius: 9,
        color: "#fff",
        weight: 2,
        fillColor: m.color || "#0b6e4f",
        fillOpacity: 1,
      }).addTo(layer.current);
      if (m.label) marker.bindTooltip(m.label);
      if (m.onClick) marker.on("click", m.onClick);
      bounds.push([m.lat, m.lon]);
    }
    if (bounds.length === 1) map.current.setView(bounds[0], 13);
    else if (bounds.length) map.current.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
    else map.current.setView([59.91, 10.75], 9);
  };

  useEffect(() => {
    if (window.L) draw(window.L);
  }, [JSON.stringify(markers && markers.map((m) => [m.lat, m.lon, m.color])), line && line.length]);

  if (failed) return html`<p class="notice offline" id="map-offline">${t("map_offline")}</p>`;
  return html`<div class="map-wrap">
    <div id=${id} class="map" ref=${box}></div>
    ${!tiles && html`<p class="muted small" id="map-no-tiles">${t("map_no_tiles")}</p>`}
  </div>`;
}
