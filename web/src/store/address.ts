// A project's address in the page: `/p/<id>`, the server's id for a saved
// project and the browser's local id for a guest's. Reload, back and a
// bookmark open the project the address names (docs/web.md, "Addresses").

const PREFIX = '/p/';

/** The project id an address names, or null (`/`, anything else). */
export function projectIdOfPath(pathname: string): string | null {
  if (!pathname.startsWith(PREFIX)) return null;
  const rest = pathname.slice(PREFIX.length).replace(/\/+$/, '');
  if (!rest || rest.includes('/')) return null;
  try {
    const id = decodeURIComponent(rest);
    // An id is never empty or a control character; anything else the store
    // looks up and does not find.
    return id && !/[\u0000-\u001f\u007f]/.test(id) ? id : null;
  } catch {
    return null;
  }
}

/** The address of a project. */
export function pathOfProject(id: string): string {
  return PREFIX + encodeURIComponent(id);
}
