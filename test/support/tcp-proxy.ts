import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy that can lose the server's replies: with
 * `dropReplies` on, bytes from the server are discarded while requests still
 * reach it. TLS passes through untouched, so this fakes a network that fails
 * between the server's commit and the client's receipt.
 */
export class TcpProxy {
  dropReplies = false;
  /** While true, new connections are accepted and cut at once. */
  refuseConnections = false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #dropWaiters: (() => void)[] = [];
  #targetPort: number;

  readonly #targetHost: string;

  private constructor(server: Server, targetPort: number, targetHost: string) {
    this.#server = server;
    this.#targetPort = targetPort;
    this.#targetHost = targetHost;
  }

  /** Starts a proxy on 127.0.0.1 (free port) to 127.0.0.1:targetPort. */
  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, targetPort, targetHost);
    server.on("connection", (client) => proxy.#pipe(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("the proxy is not listening");
    return address.port;
  }

  /** New connections go to this port from now on. */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  /**
   * Resolves when the next reply is dropped (with `dropReplies` on): the
   * server has answered a request that its client will now wait for forever.
   */
  replyDropped(): Promise<void> {
    return new Promise((resolve) => this.#dropWaiters.push(resolve));
  }

  /** Cuts every open connection. */
  resetConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.resetConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pipe(client: Socket): void {
    if (this.refuseConnections) {
      client.destroy();
      return;
    }
    const upstream = connect(this.#targetPort, this.#targetHost);
    this.#sockets.add(client).add(upstream);
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (!this.dropReplies) {
        client.write(chunk);
        return;
      }
      for (const waiter of this.#dropWaiters.splice(0)) waiter();
    });
    const closeBoth = (): void => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on("close", closeBoth).on("error", closeBoth);
    upstream.on("close", closeBoth).on("error", closeBoth);
  }
}
