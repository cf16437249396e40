package collect

import "github.com/prometheus/client_golang/prometheus"

// Kind says what a metric describes, and so which labels it carries.
type Kind int

// Kinds of metrics.
const (
	// KindInstance: one running instance; labels env, app, service,
	// instance, revision.
	KindInstance Kind = iota
	// KindService: one service of an app environment; labels env, app,
	// service.
	KindService
	// KindRoute: one routed service port and revision, as the ingress saw
	// it; labels env, app, service, revision, route.
	KindRoute
	// KindNode: the machine Haven runs on; label node.
	KindNode
)

// Label names per kind, in the order label values are kept.
var kindLabels = [...][]string{
	KindInstance: {"env", "app", "service", "instance", "revision"},
	KindService:  {"env", "app", "service"},
	KindRoute:    {"env", "app", "service", "revision", "route"},
	KindNode:     {"node"},
}

// promLabels are kindLabels as served to Prometheus: Prometheus sets
// "instance" (and "job") on every series to name the scrape target, and
// would rename ours to "exported_instance", so it is served as
// "instance_id".
var promLabels = func() (p [len(kindLabels)][]string) {
	for k, names := range kindLabels {
		for _, n := range names {
			if n == "instance" {
				n = "instance_id"
			}
			p[k] = append(p[k], n)
		}
	}
	return p
}()

// LabelNames returns the label names metrics of kind k carry.
func (k Kind) LabelNames() []string { return append([]string(nil), kindLabels[k]...) }

// Metric describes one metric Haven collects.
type Metric struct {
	// Name is the store name: what `haven metrics NAME` and alert rules use.
	Name string
	// Prom is the Prometheus name served on /metrics.
	Prom string
	// Counter is true for cumulative counters (Prometheus type counter);
	// false for gauges.
	Counter bool
	Kind    Kind
	Help    string

	desc *prometheus.Desc
}

// The metrics, by store name. Their order in Catalog is the order of
// docs/metrics.md.
const (
	CPUCores         = "cpu_cores"
	CPUSecondsTotal  = "cpu_seconds_total"
	CPULimitCores    = "cpu_limit_cores"
	CPULimitRatio    = "cpu_limit_ratio"
	MemoryBytes      = "memory_bytes"
	MemoryLimitBytes = "memory_limit_bytes"
	MemoryLimitRatio = "memory_limit_ratio"
	DiskBytes        = "disk_bytes"
	DiskLimitBytes   = "disk_limit_bytes"
	DiskRatio        = "disk_ratio"
	NetRxBytesTotal  = "net_rx_bytes_total"
	NetTxBytesTotal  = "net_tx_bytes_total"
	InFlight         = "in_flight"

	Restarts10m = "restarts_10m"

	RequestsTotal = "requests_total"
	ErrorsTotal   = "errors_total"
	RequestRate   = "request_rate"
	ErrorRatio    = "error_ratio"
	LatencyP50    = "latency_p50_seconds"
	LatencyP95    = "latency_p95_seconds"
	LatencyP99    = "latency_p99_seconds"

	NodeCPURatio         = "node_cpu_ratio"
	NodeCPUCores         = "node_cpu_cores"
	NodeMemoryUsedBytes  = "node_memory_used_bytes"
	NodeMemoryTotalBytes = "node_memory_total_bytes"
	NodeMemoryRatio      = "node_memory_ratio"
	NodeDiskUsedBytes    = "node_disk_used_bytes"
	NodeDiskTotalBytes   = "node_disk_total_bytes"
	NodeDiskRatio        = "node_disk_ratio"
	NodeLoad1            = "node_load1"
	CollectorDuration    = "collector_duration_seconds"
	CollectorInstances   = "collector_instances"
)

// RequestDurationProm is the Prometheus histogram of route latencies. It
// has no store counterpart: the store keeps the interval quantiles
// (latency_p50_seconds …) computed from the same buckets.
const RequestDurationProm = "haven_route_request_duration_seconds"

// Catalog lists every metric the collector produces.
var Catalog = []*Metric{
	{Name: CPUCores, Prom: "haven_instance_cpu_cores", Kind: KindInstance, Help: "CPU used over the last collection interval, in cores (1 = one core busy)."},
	{Name: CPUSecondsTotal, Prom: "haven_instance_cpu_seconds_total", Counter: true, Kind: KindInstance, Help: "CPU time used since the instance started, in seconds."},
	{Name: CPULimitCores, Prom: "haven_instance_cpu_limit_cores", Kind: KindInstance, Help: "CPU limit in cores; absent when the instance has none."},
	{Name: CPULimitRatio, Prom: "haven_instance_cpu_limit_ratio", Kind: KindInstance, Help: "cpu_cores divided by the CPU limit (1 = at the limit); absent without a limit."},
	{Name: MemoryBytes, Prom: "haven_instance_memory_bytes", Kind: KindInstance, Help: "Memory in use, in bytes, without page cache the kernel can drop (inactive files)."},
	{Name: MemoryLimitBytes, Prom: "haven_instance_memory_limit_bytes", Kind: KindInstance, Help: "Memory limit in bytes; absent when the instance has none."},
	{Name: MemoryLimitRatio, Prom: "haven_instance_memory_limit_ratio", Kind: KindInstance, Help: "memory_bytes divided by the memory limit; absent without a limit."},
	{Name: DiskBytes, Prom: "haven_instance_disk_bytes", Kind: KindInstance, Help: "Disk written by the instance: its writable layer (or instance directory) plus its named volumes, in bytes; refreshed about once a minute."},
	{Name: DiskLimitBytes, Prom: "haven_instance_disk_limit_bytes", Kind: KindInstance, Help: "Size of the filesystem holding the instance's data, in bytes; absent when unknown."},
	{Name: DiskRatio, Prom: "haven_instance_disk_ratio", Kind: KindInstance, Help: "How full (0-1) the fullest filesystem the instance writes to is (its writable layer's, volumes', writable bind mounts'); disk_bytes divided by disk_limit_bytes when the driver cannot tell."},
	{Name: NetRxBytesTotal, Prom: "haven_instance_network_receive_bytes_total", Counter: true, Kind: KindInstance, Help: "Bytes received on the instance's network interfaces (loopback excluded)."},
	{Name: NetTxBytesTotal, Prom: "haven_instance_network_transmit_bytes_total", Counter: true, Kind: KindInstance, Help: "Bytes sent on the instance's network interfaces (loopback excluded)."},
	{Name: InFlight, Prom: "haven_instance_http_in_flight", Kind: KindInstance, Help: "Requests the ingress is forwarding to the instance right now."},

	{Name: Restarts10m, Prom: "haven_service_restarts_10m", Kind: KindService, Help: "Instances of the service that failed (crashed, exited, turned unhealthy) in the last 10 minutes."},

	{Name: RequestsTotal, Prom: "haven_route_requests_total", Counter: true, Kind: KindRoute, Help: "Requests the ingress sent to the revision's instances and got an outcome for."},
	{Name: ErrorsTotal, Prom: "haven_route_errors_total", Counter: true, Kind: KindRoute, Help: "Requests answered with a 5xx status by the revision, or failed at it (502, 504)."},
	{Name: RequestRate, Prom: "haven_route_request_rate", Kind: KindRoute, Help: "Requests per second over the last collection interval."},
	{Name: ErrorRatio, Prom: "haven_route_error_ratio", Kind: KindRoute, Help: "Errors divided by requests over the last collection interval; absent without requests."},
	{Name: LatencyP50, Prom: "haven_route_latency_p50_seconds", Kind: KindRoute, Help: "Median time to response headers over the last collection interval; absent without requests."},
	{Name: LatencyP95, Prom: "haven_route_latency_p95_seconds", Kind: KindRoute, Help: "95th percentile of time to response headers over the last collection interval; absent without requests."},
	{Name: LatencyP99, Prom: "haven_route_latency_p99_seconds", Kind: KindRoute, Help: "99th percentile of time to response headers over the last collection interval; absent without requests."},

	{Name: NodeCPURatio, Prom: "haven_node_cpu_ratio", Kind: KindNode, Help: "Share of the node's CPU time that was busy over the last collection interval (0-1, all cores)."},
	{Name: NodeCPUCores, Prom: "haven_node_cpu_cores", Kind: KindNode, Help: "Number of CPU cores of the node."},
	{Name: NodeMemoryUsedBytes, Prom: "haven_node_memory_used_bytes", Kind: KindNode, Help: "Memory in use on the node (MemTotal - MemAvailable), in bytes."},
	{Name: NodeMemoryTotalBytes, Prom: "haven_node_memory_total_bytes", Kind: KindNode, Help: "Memory of the node, in bytes."},
	{Name: NodeMemoryRatio, Prom: "haven_node_memory_ratio", Kind: KindNode, Help: "node_memory_used_bytes divided by node_memory_total_bytes."},
	{Name: NodeDiskUsedBytes, Prom: "haven_node_disk_used_bytes", Kind: KindNode, Help: "Used bytes of the filesystem holding Haven's data directory."},
	{Name: NodeDiskTotalBytes, Prom: "haven_node_disk_total_bytes", Kind: KindNode, Help: "Size of the filesystem holding Haven's data directory, in bytes."},
	{Name: NodeDiskRatio, Prom: "haven_node_disk_ratio", Kind: KindNode, Help: "node_disk_used_bytes divided by node_disk_total_bytes."},
	{Name: NodeLoad1, Prom: "haven_node_load1", Kind: KindNode, Help: "One-minute load average of the node."},
	{Name: CollectorDuration, Prom: "haven_collector_duration_seconds", Kind: KindNode, Help: "Wall time of the collector's last pass, appends to the store included."},
	{Name: CollectorInstances, Prom: "haven_collector_instances", Kind: KindNode, Help: "Running instances measured in the collector's last pass."},
}

var byName = func() map[string]*Metric {
	m := make(map[string]*Metric, len(Catalog))
	for _, x := range Catalog {
		x.desc = prometheus.NewDesc(x.Prom, x.Help, promLabels[x.Kind], nil)
		m[x.Name] = x
	}
	return m
}()

// Lookup returns the metric with store name name, or nil.
func Lookup(name string) *Metric { return byName[name] }

var requestDurationDesc = prometheus.NewDesc(RequestDurationProm,
	"Time from the start of the attempt on the revision's instance to its response headers (or failure), in seconds; the sum is estimated from bucket midpoints.",
	promLabels[KindRoute], nil)
