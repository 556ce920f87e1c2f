// A pane divider: drag it, or focus it and use the arrow keys.

export function Splitter({
  orientation,
  label,
  value,
  min,
  max,
  invert = false,
  onChange,
}: {
  orientation: 'vertical' | 'horizontal';
  label: string;
  value: number;
  min: number;
  max: number;
  /** The pane grows when the divider moves up/left. */
  invert?: boolean;
  onChange: (v: number) => void;
}) {
  const clamp = (v: number) => Math.max(min, Math.min(max, v));
  const onPointerDown = (e: React.PointerEvent) => {
    e.preventDefault();
    const start = orientation === 'vertical' ? e.clientX : e.clientY;
    const startValue = value;
    const target = e.currentTarget as HTMLElement;
    target.setPointerCapture(e.pointerId);
    const move = (ev: PointerEvent) => {
      const delta = (orientation === 'vertical' ? ev.clientX : ev.clientY) - start;
      onChange(clamp(startValue + (invert ? -delta : delta)));
    };
    const up = () => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerup', up);
    };
    target.addEventListener('pointermove', move);
    target.addEventListener('pointerup', up);
  };
  const onKeyDown = (e: React.KeyboardEvent) => {
    const grow = invert ? ['ArrowUp', 'ArrowLeft'] : ['ArrowDown', 'ArrowRight'];
    const shrink = invert ? ['ArrowDown', 'ArrowRight'] : ['ArrowUp', 'ArrowLeft'];
    if (grow.includes(e.key)) onChange(clamp(value + 20));
    else if (shrink.includes(e.key)) onChange(clamp(value - 20));
    else return;
    e.preventDefault();
  };
  return (
    <div
      className={`splitter ${orientation}`}
      role="separator"
      aria-orientation={orientation}
      aria-label={label}
      aria-valuenow={value}
      aria-valuemin={min}
      aria-valuemax={max}
      tabIndex={0}
      onPointerDown={onPointerDown}
      onKeyDown={onKeyDown}
    />
  );
}
