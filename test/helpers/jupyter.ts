import { join } from 'node:path';

/**
 * An environment in which Jupyter sees only what a test registers under `dir`: its own
 * data, runtime and config folders, and no user-wide kernels (jupyter_core also reads
 * ~/.local/share/jupyter through Python's user site, which PYTHONNOUSERSITE turns off).
 */
export function isolatedJupyterEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    JUPYTER_DATA_DIR: join(dir, 'data'),
    JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
    JUPYTER_CONFIG_DIR: join(dir, 'config'),
    PYTHONNOUSERSITE: '1',
    ...extra,
  };
}
