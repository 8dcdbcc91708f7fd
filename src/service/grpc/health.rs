//! `grpc.health.v1.Health`, as the gRPC health checking protocol
//! (<https://github.com/grpc/grpc/blob/master/doc/health-checking.md>) asks: the overall
//! service (`""`) and both rolegate services report the daemon's readiness — `SERVING`, or
//! `NOT_SERVING` from the first shutdown signal — which `/readyz` reports too. `Check` of a
//! service it does not know is `NOT_FOUND`; `Watch` of one is a stream that says
//! `SERVICE_UNKNOWN` and stays open (the client's retry would only ask again), where
//! tonic-health's ends the call with `NOT_FOUND`.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{Stream, StreamExt};
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use super::admin::AdminService;
use super::sessions::SessionsService;
use crate::proto::admin_server::AdminServer;
use crate::proto::sessions_server::SessionsServer;

/// The services whose health is reported: the server as a whole, and each rolegate service.
const SERVICES: [&str; 3] = [
    "",
    <SessionsServer<SessionsService> as NamedService>::NAME,
    <AdminServer<AdminService> as NamedService>::NAME,
];

/// The daemon's readiness, which `/readyz`, the health service and each HTTP/1.1 answer
/// during a shutdown delay read; not ready until [`Readiness::set`].
#[derive(Debug)]
pub struct Readiness {
    /// Read per request: an atomic, not the watch channel's lock.
    ready: AtomicBool,
    /// What the health service's `Check` and `Watch` read.
    watched: watch::Sender<bool>,
}

impl Readiness {
    /// Not ready, and the health service that reports it.
    pub fn new() -> (Readiness, HealthService) {
        let (watched, ready) = watch::channel(false);
        let readiness = Readiness {
            ready: AtomicBool::new(false),
            watched,
        };
        (readiness, HealthService { ready })
    }

    /// Reports `ready`: `/readyz` and `Check` answer it from now on, and every `Watch` stream
    /// gets it at once.
    pub fn set(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
        self.watched.send_replace(ready);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The `Health` service of a [`Readiness`].
#[derive(Debug)]
pub struct HealthService {
    ready: watch::Receiver<bool>,
}

/// What `Watch` streams.
type Statuses = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, req: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        let service = req.get_ref().service.as_str();
        if !SERVICES.contains(&service) {
            return Err(Status::not_found(unknown_service(service)));
        }
        Ok(Response::new(answer(serving_status(*self.ready.borrow()))))
    }

    type WatchStream = Statuses;

    async fn watch(&self, req: Request<HealthCheckRequest>) -> Result<Response<Statuses>, Status> {
        let statuses: Statuses = match SERVICES.contains(&req.get_ref().service.as_str()) {
            // The status now, then each change.
            true => Box::pin(
                tokio_stream::wrappers::WatchStream::new(self.ready.clone())
                    .map(|ready| Ok(answer(serving_status(ready)))),
            ),
            false => Box::pin(
                futures_util::stream::once(async { Ok(answer(ServingStatus::ServiceUnknown)) })
                    .chain(futures_util::stream::pending()),
            ),
        };
        Ok(Response::new(statuses))
    }
}

/// `SERVING` when `ready`, else `NOT_SERVING`.
fn serving_status(ready: bool) -> ServingStatus {
    match ready {
        true => ServingStatus::Serving,
        false => ServingStatus::NotServing,
    }
}

fn answer(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse { status: status.into() }
}

/// The message of a `Check` of a service not reported on, naming those that are.
fn unknown_service(service: &str) -> String {
    let shown = crate::error::shown_if_shaped(service, 128, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
    });
    format!(
        "No health is reported for service '{shown}': ask for \"\" (the server), {} or {}.",
        SERVICES[1], SERVICES[2]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(service: &str) -> Request<HealthCheckRequest> {
        Request::new(HealthCheckRequest {
            service: service.into(),
        })
    }

    #[tokio::test]
    async fn known_services_report_readiness_and_watches_follow_it() {
        let (readiness, health) = Readiness::new();
        let status = |r: Response<HealthCheckResponse>| r.into_inner().status();
        assert_eq!(
            status(health.check(request("")).await.unwrap()),
            ServingStatus::NotServing
        );
        let mut watch = health
            .watch(request("rolegate.v1.Sessions"))
            .await
            .unwrap()
            .into_inner();
        let next = |w: &mut Statuses| {
            let item = futures_util::FutureExt::now_or_never(w.next());
            item.flatten().map(|r| r.unwrap().status())
        };
        assert_eq!(next(&mut watch), Some(ServingStatus::NotServing));
        assert_eq!(next(&mut watch), None, "no change yet");
        readiness.set(true);
        assert_eq!(next(&mut watch), Some(ServingStatus::Serving));
        for service in SERVICES {
            assert_eq!(
                status(health.check(request(service)).await.unwrap()),
                ServingStatus::Serving
            );
        }
        readiness.set(false);
        assert_eq!(next(&mut watch), Some(ServingStatus::NotServing));
    }

    #[tokio::test]
    async fn unknown_services_are_not_found_and_watched_as_unknown() {
        let (readiness, health) = Readiness::new();
        readiness.set(true);
        let refused = health.check(request("rolegate.v1.Other")).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::NotFound);
        assert_eq!(
            refused.message(),
            "No health is reported for service 'rolegate.v1.Other': ask for \"\" (the server), rolegate.v1.Sessions \
             or rolegate.v1.Admin."
        );
        let refused = health.check(request("a\nb")).await.unwrap_err();
        assert!(
            refused.message().starts_with("No health is reported for service '…'"),
            "{refused:?}"
        );
        let mut watch = health.watch(request("rolegate.v1.Other")).await.unwrap().into_inner();
        let first = futures_util::FutureExt::now_or_never(watch.next()).flatten();
        assert_eq!(first.map(|r| r.unwrap().status()), Some(ServingStatus::ServiceUnknown));
        // The stream stays open: nothing more, and no end.
        assert!(futures_util::FutureExt::now_or_never(watch.next()).is_none());
    }
}
