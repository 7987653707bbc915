/**
 * A loopback stand-in for the Hugging Face Hub: the repo-info API and resolve URLs
 * (HEAD and GET, with ETag / X-Linked-Etag / X-Repo-Commit headers and Range), plus
 * an optional second origin playing the CDN that LFS files redirect to. Listens on
 * 127.0.0.1 only, on a random port, and every request has a timeout.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  origin: 'hub' | 'cdn';
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: Record<string, Uint8Array>;
  /** Files served like LFS files: X-Linked-Etag = sha256, X-Linked-Size, and (with a CDN) a redirect. */
  lfs?: string[];
}

export interface Behaviour {
  /** First GET of this file sends this many bytes, then drops the connection. */
  dropAfter?: Record<string, number>;
  /** Answer Range requests with the whole file (200), as some proxies do. */
  ignoreRange?: boolean;
  /** Requests must carry `Authorization: Bearer <token>`; others get 401 echoing what they sent. */
  requireToken?: string;
  /** Claim this size in X-Linked-Size (a lying or changed file). */
  wrongSize?: Record<string, number>;
  /** Redirect LFS files to the CDN origin. */
  useCdn?: boolean;
}

export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Git's blob hash, which the Hub sends as the ETag of non-LFS files. */
export const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  behaviour: Behaviour = {};
  private readonly hub: Server;
  private readonly cdn: Server;
  private readonly dropped = new Set<string>();
  url = '';
  cdnUrl = '';

  constructor(readonly repos: FakeRepo[]) {
    this.hub = createServer((req, res) => this.handle('hub', req, res));
    this.cdn = createServer((req, res) => this.handle('cdn', req, res));
    for (const s of [this.hub, this.cdn]) {
      s.requestTimeout = 10_000;
      s.headersTimeout = 5_000;
      s.keepAliveTimeout = 1_000;
    }
  }

  async start(): Promise<this> {
    const listen = (s: Server) => new Promise<string>((ok) => s.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
    this.url = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
    return this;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
  }

  count(pred: (r: RecordedRequest) => boolean): number {
    return this.requests.filter(pred).length;
  }

  private handle(origin: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse): void {
    const path = decodeURI((req.url ?? '/').split('?')[0]);
    this.requests.push({ method: req.method ?? 'GET', path, range: req.headers.range, authorization: req.headers.authorization, origin });
    const b = this.behaviour;
    if (origin === 'hub' && b.requireToken && req.headers.authorization !== `Bearer ${b.requireToken}`) {
      // The real Hub does not echo credentials, but a proxy might: the client must scrub them.
      res.writeHead(401, { 'Content-Type': 'application/json', 'X-Error-Code': 'RepoNotFound' });
      res.end(JSON.stringify({ error: `Invalid credentials in Authorization header: ${req.headers.authorization ?? 'none'}` }));
      return;
    }
    if (origin === 'cdn') {
      const m = /^\/blob\/([0-9a-f]{64})$/.exec(path);
      const found = m && this.findBlob(m[1]);
      if (!found) return this.notFound(res);
      return this.sendFile(req, res, found.name, found.data, {});
    }
    let m = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(path);
    if (m && req.method === 'GET') {
      const repo = this.repos.find((r) => r.id === m![1]);
      if (!repo || (m[2] !== 'main' && m[2] !== repo.commit)) return this.notFound(res, 'RepoNotFound');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        _id: 'fake', id: repo.id, sha: repo.commit, private: false, gated: false, downloads: 0, likes: 0,
        lastModified: '2024-11-22T00:00:00.000Z', siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })),
      }));
      return;
    }
    m = /^\/(.+?\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const repo = this.repos.find((r) => r.id === m![1]);
      const data = repo?.files[m[3]];
      if (!repo || !data || (m[2] !== 'main' && m[2] !== repo.commit)) return this.notFound(res, 'EntryNotFound');
      const name = m[3];
      const headers: Record<string, string> = { 'X-Repo-Commit': repo.commit };
      if (repo.lfs?.includes(name)) {
        headers['X-Linked-Etag'] = `"${sha256(data)}"`;
        headers['X-Linked-Size'] = String(b.wrongSize?.[name] ?? data.length);
        if (b.useCdn) {
          headers.Location = `${this.cdnUrl}/blob/${sha256(data)}`;
          res.writeHead(302, headers);
          res.end();
          return;
        }
      } else {
        headers.ETag = `W/"${gitSha1(data)}"`;
      }
      return this.sendFile(req, res, name, data, headers);
    }
    this.notFound(res);
  }

  private findBlob(hash: string): { name: string; data: Uint8Array } | undefined {
    for (const r of this.repos) for (const [name, data] of Object.entries(r.files)) if (sha256(data) === hash) return { name, data };
    return undefined;
  }

  private notFound(res: ServerResponse, code = 'NotFound'): void {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Error-Code': code });
    res.end(`${code}`);
  }

  private sendFile(req: IncomingMessage, res: ServerResponse, name: string, data: Uint8Array, headers: Record<string, string>): void {
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range && !this.behaviour.ignoreRange) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${data.length}` });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    }
    const body = data.subarray(start);
    res.writeHead(status, { ...headers, 'Content-Length': String(body.length), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const drop = this.behaviour.dropAfter?.[name];
    if (drop !== undefined && !this.dropped.has(name)) {
      this.dropped.add(name);
      // Send part of the body, then cut the connection as a flaky network would.
      res.write(body.subarray(0, drop), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}
