import HummingbirdCore
import Logging
import NIOCore

/// A task executor that runs jobs on one SwiftNIO event loop.
///
/// Each connection's task runs on its own channel's event loop (``EventLoopPinnedChannel``): the request parts read
/// from the channel and the response written to it then stay on one thread, instead of hopping to Swift
/// Concurrency's global executor and back for every request (two thread switches each way, which cost more CPU than
/// the signature on a busy server). Work that may block, a counter from a database or a durable file, is moved off
/// the event loop by ``SigningService`` (`withTaskExecutorPreference(globalConcurrentExecutor)`).
final class EventLoopExecutor: TaskExecutor, @unchecked Sendable {
    // Sendable: immutable; `EventLoop` is Sendable.
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }
}

/// A server child channel whose connections are handled by tasks that prefer their channel's event loop as their
/// executor (``EventLoopExecutor``). Everything else is the wrapped channel's (HTTP/1, TLS).
struct EventLoopPinnedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    init(_ base: Base) { self.base = base }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        let executor = EventLoopExecutor(value.channel.eventLoop)
        await withTaskExecutorPreference(executor) {
            await base.handle(value: value, logger: logger)
        }
    }
}
