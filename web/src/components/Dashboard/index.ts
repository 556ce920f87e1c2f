// The admin Dashboard, a lazy chunk of its own (uPlot comes with it).

export { Dashboard } from './Dashboard';
