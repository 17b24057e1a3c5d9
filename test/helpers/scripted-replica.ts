import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A model server whose answers a test writes: GETs get 200 (`/v1/models` lists `model`, others an
 * empty body), and each POST's body, read whole, goes to `answer` with the response to write.
 * Listens on 127.0.0.1, an ephemeral port.
 */
export async function scriptedReplica(answer: (body: string, res: ServerResponse) => void | Promise<void>, model = 'm'): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    if (req.method === 'GET') {
      const b = req.url === '/v1/models' ? JSON.stringify({ object: 'list', data: [{ id: model, object: 'model', root: model }] }) : '';
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(b);
    }
    let body = '';
    for await (const c of req) body += c;
    await answer(body, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}
