import net from 'node:net';

/**
 * A TCP proxy in front of a server, whose link can be cut (every connection reset, new ones refused at once) and
 * restored: a network partition, with the server itself untouched (no restart, its counters keep their lifetime).
 */
export class Proxy {
  private readonly sockets = new Set<net.Socket>();
  private cut = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<Proxy> {
    const holder: { proxy?: Proxy } = {};
    const server = net.createServer((client) => {
      const { proxy } = holder;
      if (!proxy || proxy.cut) {
        client.destroy();
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        proxy.sockets.add(s);
        s.on('close', () => proxy.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.proxy = new Proxy(server, (server.address() as net.AddressInfo).port);
    return holder.proxy;
  }

  /** Resets every connection and refuses new ones until restore(). */
  sever(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
