/** Toolbar and UI icons: 20×20, stroke-based, drawn for weft. */
const wrap = (body: string) =>
  `<svg viewBox="0 0 20 20" width="18" height="18" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`

export const icons = {
  bold: wrap('<path d="M6 4h5a3 3 0 0 1 0 6H6z"/><path d="M6 10h6a3 3 0 0 1 0 6H6z"/>'),
  italic: wrap('<path d="M12.5 4H8.5M11.5 16h-4M11 4 9 16"/>'),
  code: wrap('<path d="m7 6-4 4 4 4M13 6l4 4-4 4"/>'),
  link: wrap('<path d="M8.5 11.5a3 3 0 0 0 4.2 0l2.6-2.6a3 3 0 0 0-4.2-4.2l-.8.8"/><path d="M11.5 8.5a3 3 0 0 0-4.2 0l-2.6 2.6a3 3 0 0 0 4.2 4.2l.8-.8"/>'),
  bulletList: wrap('<path d="M8 5h9M8 10h9M8 15h9"/><circle cx="4" cy="5" r=".6" fill="currentColor"/><circle cx="4" cy="10" r=".6" fill="currentColor"/><circle cx="4" cy="15" r=".6" fill="currentColor"/>'),
  orderedList: wrap('<path d="M8.5 5h8.5M8.5 10h8.5M8.5 15h8.5"/><path d="M3 4l1-.5V7M3 7h2" stroke-width="1.3"/><path d="M3 12.2c.3-.5 1.9-.6 1.9.4 0 .8-1.9 1.4-1.9 2.4h2" stroke-width="1.3"/>'),
  quote: wrap('<path d="M4 5v10"/><path d="M8 6h8M8 10h8M8 14h5"/>'),
  codeBlock: wrap('<rect x="2.5" y="3.5" width="15" height="13" rx="2"/><path d="m7.5 8-2 2 2 2M12.5 8l2 2-2 2"/>'),
  undo: wrap('<path d="M7 8H13a4 4 0 0 1 0 8H9"/><path d="M9.5 5 6.5 8l3 3"/>'),
  redo: wrap('<path d="M13 8H7a4 4 0 0 0 0 8h4"/><path d="m10.5 5 3 3-3 3"/>'),
  copy: wrap('<rect x="7" y="7" width="10" height="10" rx="2"/><path d="M13 7V5a2 2 0 0 0-2-2H5a2 2 0 0 0-2 2v6a2 2 0 0 0 2 2h2"/>'),
  plus: wrap('<path d="M10 4v12M4 10h12"/>'),
  doc: wrap('<path d="M5.5 2.5h6l4 4v11h-10z"/><path d="M11.5 2.5v4h4M8 10.5h5M8 13.5h5"/>'),
  arrowRight: wrap('<path d="M4 10h12M11 5l5 5-5 5"/>'),
  external: wrap('<path d="M11 3.5h5.5V9M16.5 3.5 9 11"/><path d="M14 12v3.5a1 1 0 0 1-1 1H4.5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1H8"/>'),
  trash: wrap('<path d="M4 6h12M8 6V4h4v2M5.5 6l.8 10.5h7.4L14.5 6"/>'),
  check: wrap('<path d="m4.5 10.5 3.5 3.5 7.5-8"/>'),
  x: wrap('<path d="m5 5 10 10M15 5 5 15"/>'),
  cloud: wrap('<path d="M6 15.5h8.5a3.5 3.5 0 0 0 .4-7A5 5 0 0 0 5.2 9a3.3 3.3 0 0 0 .8 6.5z"/>'),
  cloudCheck: wrap('<path d="M6 15.5h8.5a3.5 3.5 0 0 0 .4-7A5 5 0 0 0 5.2 9a3.3 3.3 0 0 0 .8 6.5z"/><path d="m8 11.5 1.6 1.6L12.5 10"/>'),
  cloudOff: wrap('<path d="M6 15.5h8.5a3.5 3.5 0 0 0 .4-7A5 5 0 0 0 5.2 9a3.3 3.3 0 0 0 .8 6.5z"/><path d="m3 3 14 14"/>'),
  history: wrap('<path d="M3.5 10a6.5 6.5 0 1 0 1.9-4.6"/><path d="M3.2 3.6v2.6h2.6"/><path d="M10 6.5V10l2.5 1.8"/>'),
  tag: wrap('<path d="M3.5 3.5h6l7 7-6 6-7-7z"/><circle cx="7" cy="7" r="1" fill="currentColor"/>'),
  lock: wrap('<rect x="4.5" y="9" width="11" height="8" rx="1.8"/><path d="M7 9V6.5a3 3 0 0 1 6 0V9"/>'),
  eye: wrap('<path d="M2 10s3-5.5 8-5.5S18 10 18 10s-3 5.5-8 5.5S2 10 2 10z"/><circle cx="10" cy="10" r="2.3"/>'),
  restore: wrap('<path d="M3.5 10a6.5 6.5 0 1 0 1.9-4.6"/><path d="M3.2 3.6v2.6h2.6"/>'),
  logo: `<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><rect width="24" height="24" rx="6" fill="currentColor"/><path d="M5.5 8 8.6 16.5 12 9.5 15.4 16.5 18.5 8" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>`,
}
