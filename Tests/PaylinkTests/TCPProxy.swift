import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy a test can cut and restore, to play a database that goes away and
/// comes back. Cutting closes every open connection and refuses new ones. Freezing plays a
/// database that stops answering but keeps its connections open (its processes stopped, a
/// black-holed network): nothing is read from either side until `thaw()`, so bytes wait in
/// the kernel's buffers as they would for a stopped process.
final class TCPProxy: Sendable {
    private let server: any Channel
    private let state = Mutex<(up: Bool, frozen: Bool, connections: [any Channel])>((true, false, []))
    let port: Int

    init(to targetPort: Int) async throws {
        let box = ProxyBox()
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                guard let proxy = box.proxy, proxy.admit(inbound) else { return inbound.close() }
                return ClientBootstrap(group: inbound.eventLoop).connect(host: "127.0.0.1", port: targetPort).flatMap { outbound in
                    // Cut while connecting: the database is gone, so this connection goes too.
                    guard proxy.admit(outbound) else { return outbound.close().flatMap { inbound.close() } }
                    return inbound.pipeline.addHandler(Relay(peer: outbound)).flatMap {
                        outbound.pipeline.addHandler(Relay(peer: inbound))
                    }.flatMapError { error in
                        // The client went (or was cut) while we connected: do not leave the database side open.
                        outbound.close(promise: nil)
                        return inbound.eventLoop.makeFailedFuture(error)
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress!.port!
        box.proxy = self
    }

    /// Tracks `channel` so `cut()` closes it; false once cut. Checked and tracked under one lock,
    /// so a connection being accepted or relayed while the cut happens cannot slip through.
    fileprivate func admit(_ channel: any Channel) -> Bool {
        let frozen: Bool? = state.withLock { state in
            guard state.up else { return nil }
            state.connections.append(channel)
            return state.frozen
        }
        guard let frozen else { return false }
        if frozen { channel.setOption(.autoRead, value: false).whenComplete { _ in } }
        return true
    }

    func freeze() { setReading(false) }

    func thaw() { setReading(true) }

    private func setReading(_ reading: Bool) {
        let open = state.withLock { state in
            state.frozen = !reading
            return state.connections
        }
        for channel in open { channel.setOption(.autoRead, value: reading).whenComplete { _ in } }
    }

    func cut() {
        let open = state.withLock { state in
            state.up = false
            defer { state.connections = [] }
            return state.connections
        }
        for channel in open { channel.close(promise: nil) }
    }

    func restore() { state.withLock { $0.up = true } }

    func close() async throws { try await server.close() }
}

private final class ProxyBox: @unchecked Sendable {
    // Set once, right after bind and before any connection can be accepted by a test.
    var proxy: TCPProxy?
}

/// Copies bytes to the peer channel and closes it when this side closes.
private final class Relay: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let peer: any Channel
    init(peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(data, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
