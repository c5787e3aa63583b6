// A place search box (our sites and towns, from the `places` query), with suggestions.
import { useEffect, useState } from "preact/hooks";
import { gql } from "../api.js";
import { html } from "../ui.js";

const PLACES = `query($q: String!) { places(query: $q) { name kind detail latitude longitude } }`;

export function PlaceSearch({ id, placeholder, label, value, onChoose }) {
  const [text, setText] = useState(value || "");
  const [found, setFound] = useState([]);
  const [open, setOpen] = useState(false);

  useEffect(() => setText(value || ""), [value]);

  useEffect(() => {
    if (!open || text.trim().length < 2) {
      setFound([]);
      return undefined;
    }
    const timer = setTimeout(() => {
      gql(PLACES, { q: text.trim() })
        .then((data) => setFound(data.places))
        .catch(() => setFound([]));
    }, 200);
    return () => clearTimeout(timer);
  }, [text, open]);

  const choose = (place) => {
    setText(place.name);
    setOpen(false);
    setFound([]);
    onChoose(place);
  };

  return html`<div class="place-search">
    <input id=${id} type="search" placeholder=${placeholder} aria-label=${label || placeholder} autocomplete="off"
      value=${text} onInput=${(e) => {
        setText(e.target.value);
        setOpen(true);
      }} />
    ${open &&
    found.length > 0 &&
    html`<ul class="suggestions" role="listbox" id=${`${id}-suggestions`}>
      ${found.map(
        (p) => html`<li role="option"><button type="button" onClick=${() => choose(p)}>
          <strong>${p.name}</strong> <span class="muted small">${p.detail}</span></button></li>`,
      )}
    </ul>`}
  </div>`;
}
