import BlobHubRealtimeServices
import NIOCore

/// Runs Swift concurrency jobs on a NIO event loop.
///
/// Plain HTTP connections (publish, admin) are served by Hummingbird's async handlers. Without a
/// preference their jobs run on the global pool, so each request hops loop → pool thread → loop;
/// when the machine is busy with fan-out every hop waits for a scheduler slice (the publish p50 was
/// ~20 ms under fan-out load). With this executor as the task's preference the request is read,
/// handled and answered on its connection's loop, like the WebSocket connections. Handlers must not
/// block: the stores' I/O is asynchronous (GRDB's writer queue, postgres-nio).
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
