// Format document as a request to the editor on screen (which holds the
// view and the language servers): the status bar's button, and a save with
// "format on save" on, which waits for it.

export const FORMAT_EVENT = 'bytesbox:format-document';

/** How long a save waits for the formatter before it saves as it is. */
export const FORMAT_WAIT_MS = 3000;

export interface FormatRequest {
  /** Called when the formatting is in the editor, or there is none to do. */
  done: () => void;
}

/** Asks the editor to format its file; resolves when it did, when it cannot, or after `FORMAT_WAIT_MS`. */
export function requestFormat(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, FORMAT_WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    // Nobody listening (no editor on screen) is nothing to do.
    const handled = !window.dispatchEvent(new CustomEvent<FormatRequest>(FORMAT_EVENT, { detail: { done }, cancelable: true }));
    if (!handled) done();
  });
}
