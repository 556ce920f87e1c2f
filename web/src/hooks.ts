import { useEffect, useSyncExternalStore, type RefObject } from 'react';
/** Anything observable like `Store`. */
export interface Observable<T> {
  get(): T;
  subscribe(listener: () => void): () => void;
}

export function useStore<T>(store: Observable<T>): T {
  return useSyncExternalStore(store.subscribe, store.get);
}

/**
 * One value derived from a store: the component re-renders only when that
 * value changes (compared with `Object.is`), so `select` should return a
 * primitive. The toolbar uses it to stay still while output streams.
 */
export function useStoreValue<T, V>(store: Observable<T>, select: (value: T) => V): V {
  return useSyncExternalStore(store.subscribe, () => select(store.get()));
}

/** True when the media query matches, live. */
export function useMedia(query: string): boolean {
  const list = mediaList(query);
  return useSyncExternalStore(
    (onChange) => {
      list.addEventListener('change', onChange);
      return () => list.removeEventListener('change', onChange);
    },
    () => list.matches,
  );
}

const lists = new Map<string, MediaQueryList>();

/** One live list per query (matchMedia is not free, and renders ask often). */
function mediaList(query: string): MediaQueryList {
  let list = lists.get(query);
  if (!list) lists.set(query, (list = window.matchMedia(query)));
  return list;
}

/** While `open`, a pointer pressed outside `box` calls `close` (menus and popovers). */
export function useCloseOnOutsidePointer(open: boolean, box: RefObject<HTMLElement | null>, close: () => void) {
  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => {
      if (!box.current?.contains(e.target as Node)) close();
    };
    document.addEventListener('pointerdown', onDown, true);
    return () => document.removeEventListener('pointerdown', onDown, true);
  }, [open, box, close]);
}
