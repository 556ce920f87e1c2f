// How the notebook view shows cells and outputs: which MIME type of a
// bundle is shown, and every piece of HTML (Markdown cells, `text/html`,
// `text/markdown`, SVG) through DOMPurify, since a notebook file and a
// kernel's output are both hostile to the page.

import DOMPurify from 'dompurify';
import { marked, type Token } from 'marked';
import { joinText } from './model';

/** The MIME types shown, most preferred first (JupyterLab's order, with the ones rendered here). */
export const SHOWN_MIMES = [
  'text/html',
  'image/png',
  'image/jpeg',
  'image/svg+xml',
  'text/markdown',
  'application/json',
  'text/plain',
] as const;

export type ShownMime = (typeof SHOWN_MIMES)[number];

/** The MIME type of a bundle to show, or null when none of its types is shown here. */
export function preferredMime(data: Record<string, unknown>): ShownMime | null {
  return SHOWN_MIMES.find((mime) => mime in data) ?? null;
}

// Elements that reach beyond their output (a <style> restyles the whole
// IDE, a <form> posts somewhere) are dropped; scripts and event handlers
// DOMPurify drops anyway.
const PURIFY = { FORBID_TAGS: ['style', 'form', 'base', 'meta', 'link'], FORBID_ATTR: ['action', 'formaction'] };

// Links open beside the IDE, never in its place (and tell the other page
// nothing). (Without a DOM, in the unit tests, DOMPurify has no hooks.)
if (DOMPurify.isSupported) {
  DOMPurify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer');
    }
  });
}

export function sanitizeHtml(html: string): string {
  return DOMPurify.sanitize(html, PURIFY);
}

/**
 * Markdown to sanitised HTML. `attachment:name` images take their data
 * from the cell's attachments (nbformat's MIME bundles).
 */
export function markdownHtml(source: string, attachments?: unknown): string {
  const tokens = marked.lexer(source);
  marked.walkTokens(tokens, (token: Token) => {
    if (token.type !== 'image' || !token.href.startsWith('attachment:')) return;
    const bundle = (attachments as Record<string, Record<string, unknown>> | undefined)?.[token.href.slice('attachment:'.length)];
    const mime = bundle && Object.keys(bundle).find((m) => m.startsWith('image/'));
    if (bundle && mime) token.href = imageUrl(mime, bundle[mime]);
  });
  return sanitizeHtml(marked.parser(tokens));
}

/** An image of a bundle as a data URL; SVG sanitised first (it is markup). */
export function imageUrl(mime: string, value: unknown): string {
  const text = joinText(value);
  if (mime === 'image/svg+xml') {
    const clean = DOMPurify.sanitize(text, { USE_PROFILES: { svg: true, svgFilters: true } });
    return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(clean)}`;
  }
  return `data:${mime};base64,${text.replace(/\s+/g, '')}`;
}

/** Outputs taller than this (in CSS pixels) are shown collapsed, with "Show all". */
export const COLLAPSED_HEIGHT = 480;
