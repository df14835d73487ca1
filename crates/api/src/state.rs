use metrics_exporter_prometheus::PrometheusHandle;
use opsconductor_core::Core;

/// Shared by every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub metrics: PrometheusHandle,
    /// Whether requests arrive over TLS (decides the HSTS header).
    pub tls: bool,
}
