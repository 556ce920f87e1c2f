import { BytesboxClient, type SocketLike } from '../src/protocol/client';

/** A WebSocket stand-in that is open from the start; the test feeds it frames. */
export class OpenSocket implements SocketLike {
  readyState = 1;
  sent: Record<string, unknown>[] = [];
  onopen = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.onclose?.({ code: 1006 });
  }
  receive(m: object) {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
}

/** A client connected through an `OpenSocket` that has received `hello`; the sockets it opened, in order. */
export function connectedClient(hello: object): { client: BytesboxClient; sockets: OpenSocket[] } {
  const sockets: OpenSocket[] = [];
  const client = new BytesboxClient({
    url: 'ws://x/api/v1/ws',
    socket: () => {
      const s = new OpenSocket();
      sockets.push(s);
      return s;
    },
    pingMs: 0,
    backoffMs: [0],
  });
  client.connect();
  sockets[0].receive(hello);
  return { client, sockets };
}
