export { display, DisplayHandle, inNotebook, setDisplaySink, escapeHtml, type MimeBundle, type DisplaySink } from './display';
export { showTable, tableBundle, formatCell, type TableLike, type TableOptions, type Row } from './table';
export { showAudio, audioBundle, audioHtml, type AudioOptions, type AudioInput } from './audio';
export { showPlot, plotBundle, initPlotly, LivePlot, plotlyLibraryBundle, type PlotOptions, type Figure, type Trace, type Layout, type Axis } from './plot';
export { figureToSvg, niceTicks } from './staticPlot';
export { encodePng } from './png';
export { ProgressBar, withProgress, fmtDuration, type ProgressOptions } from './progress';
