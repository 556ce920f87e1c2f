// A language server's hover and completion documentation is Markdown that
// @codemirror/lsp-client renders to HTML. The text comes from the box (a
// docstring of an imported project can hold `<img onerror=…>`), so the
// HTML is cut down to formatting before it reaches the page: a short list
// of elements, no attributes but `class` (the package's code highlighting),
// and everything else replaced by its text.

const ALLOWED = new Set([
  'P', 'PRE', 'CODE', 'EM', 'STRONG', 'B', 'I', 'UL', 'OL', 'LI', 'BR', 'HR', 'SPAN', 'DIV',
  'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'BLOCKQUOTE', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DEL',
]);

function clean(node: Node, doc: Document): Node[] {
  if (node.nodeType === Node.TEXT_NODE) return [doc.createTextNode(node.textContent ?? '')];
  if (node.nodeType !== Node.ELEMENT_NODE) return [];
  const element = node as Element;
  const children = [...element.childNodes].flatMap((child) => clean(child, doc));
  if (!ALLOWED.has(element.tagName)) {
    // Script and style bodies are code, not text to show.
    return element.tagName === 'SCRIPT' || element.tagName === 'STYLE' ? [] : children;
  }
  const copy = doc.createElement(element.tagName.toLowerCase());
  const klass = element.getAttribute('class');
  if (klass) copy.setAttribute('class', klass);
  copy.append(...children);
  return [copy];
}

/** The HTML with only formatting left. */
export function sanitizeDocumentation(html: string): string {
  const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, 'text/html');
  const out = document.createElement('div');
  out.append(...[...parsed.body.childNodes].flatMap((child) => clean(child, document)));
  return out.innerHTML;
}
