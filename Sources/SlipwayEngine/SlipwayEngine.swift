/// SlipwayEngine: everything that acts on a workspace.
///
/// It owns workspace discovery and layout, the content-addressed store, file
/// hashing with its stat cache, the executor seam (``Executor``, with the
/// local ``ProcessExecutor``), the DAG scheduler (``PipelineRunner``), metric
/// ingestion, provenance and crash recovery (``RunReaper``).
///
/// It reaches the registry only through the SlipwayStore protocols, so the
/// registry's database can change without touching this target. It must not
/// import the console or the command line. It re-exports the core (plain
/// values the faces render) but not the store: the faces read through
/// ``RegistryReading`` and act through the services (see `LayeringTests`).
@_exported import SlipwayCore
import SlipwayStore
