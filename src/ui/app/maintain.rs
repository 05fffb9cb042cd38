//! The app's side of the Maintain tab: a [`MaintenanceAction`] → a compaction / expiry / vacuum / checkpoint job;
//! a finished run → the table read again (History shows the new version, Files the new sizes) and the
//! live files of the versions before and after fetched for the side-by-side bbox view.

use super::{JobPurpose, MeshlakeApp};
use crate::engine::jobs::{JobResult, JobSpec};
use crate::ui::commands::{Command, MaintenanceAction};
use crate::ui::model::Requested;
use crate::ui::panels::maintain::{BeforeAfter, mean_bbox_share};
use crate::ui::panels::tables::{history_selector, is_iceberg};

/// What a maintenance job was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MaintenanceKind {
    Plan,
    Compact,
    Expire,
    Vacuum,
    Checkpoint,
}

impl MaintenanceKind {
    fn of(action: &MaintenanceAction) -> Self {
        match action {
            MaintenanceAction::Compact(request) if request.dry_run => MaintenanceKind::Plan,
            MaintenanceAction::Compact(_) => MaintenanceKind::Compact,
            MaintenanceAction::Expire(_) => MaintenanceKind::Expire,
            MaintenanceAction::Vacuum(_) => MaintenanceKind::Vacuum,
            MaintenanceAction::Checkpoint => MaintenanceKind::Checkpoint,
        }
    }
}

impl MeshlakeApp {
    pub(super) fn maintain_table(&mut self, index: usize, action: MaintenanceAction) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let kind = MaintenanceKind::of(&action);
        let results = &mut entry.maintenance;
        match kind {
            MaintenanceKind::Plan => results.plan.refresh(),
            MaintenanceKind::Compact => results.compaction.refresh(),
            MaintenanceKind::Expire => results.expire.refresh(),
            MaintenanceKind::Vacuum => results.vacuum.refresh(),
            MaintenanceKind::Checkpoint => results.checkpoint.refresh(),
        }
        let spec = match action {
            MaintenanceAction::Compact(request) => JobSpec::TableCompact { table, request },
            MaintenanceAction::Expire(request) => JobSpec::TableExpire { table, request },
            MaintenanceAction::Vacuum(request) => JobSpec::TableVacuum { table, request },
            MaintenanceAction::Checkpoint => JobSpec::TableCheckpoint { table },
        };
        self.submit(spec, JobPurpose::Maintain { reference, kind });
    }

    /// A maintenance job finished.
    pub(super) fn show_maintenance(&mut self, reference: &str, result: JobResult) {
        let Some(index) = self.model.tables.iter().position(|t| t.reference == reference) else { return };
        let mut changed = false;
        let entry = &mut self.model.tables[index];
        match result {
            JobResult::Compaction(report) if report.dry_run => entry.maintenance.plan = Requested::Ready(report),
            JobResult::Compaction(report) => {
                changed = report.version_after.is_some();
                let versions = report.version_before.zip(report.version_after);
                entry.maintenance.compaction = Requested::Ready(report);
                if changed {
                    // The plan was made on the version before: it no longer describes the table.
                    entry.maintenance.plan = Requested::NotRequested;
                }
                if let Some((before, after)) = versions {
                    self.request_before_after(index, before, after);
                }
            }
            JobResult::Expire(report) => {
                changed = !report.dry_run && !report.expired.is_empty();
                entry.maintenance.expire = Requested::Ready(report);
            }
            JobResult::Vacuum(report) => entry.maintenance.vacuum = Requested::Ready(report),
            JobResult::Checkpoint(report) => {
                changed = !report.already_existed;
                entry.maintenance.checkpoint = Requested::Ready(report);
            }
            other => tracing::warn!("unexpected maintenance result for {reference}: {other:?}"),
        }
        if changed {
            self.pending_commands.push(Command::ReloadTable(index));
        }
    }

    pub(super) fn maintenance_failed(&mut self, reference: &str, kind: MaintenanceKind, error: String) {
        let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) else { return };
        let results = &mut entry.maintenance;
        match kind {
            MaintenanceKind::Plan => results.plan = Requested::Failed(error),
            MaintenanceKind::Compact => results.compaction = Requested::Failed(error),
            MaintenanceKind::Expire => results.expire = Requested::Failed(error),
            MaintenanceKind::Vacuum => results.vacuum = Requested::Failed(error),
            MaintenanceKind::Checkpoint => results.checkpoint = Requested::Failed(error),
        }
    }

    /// Read the live files of the version a compaction started from and the one it committed.
    fn request_before_after(&mut self, index: usize, before: i64, after: i64) {
        let Some((reference, table)) = self.table_ref(index) else { return };
        let Some(entry) = self.model.tables.get_mut(index) else { return };
        let iceberg = is_iceberg(entry);
        entry.maintenance.before_after = Some(BeforeAfter {
            before_version: before,
            after_version: after,
            before: Requested::Pending { previous: None },
            after: Requested::Pending { previous: None },
            shares: [None, None],
        });
        for (version, after_side) in [(before, false), (after, true)] {
            let spec = JobSpec::TableFiles { table: table.clone(), at: history_selector(iceberg, version) };
            self.submit(spec, JobPurpose::MaintainFiles { reference: reference.clone(), version, after: after_side });
        }
    }

    /// Files of one side of the before/after view arrived (or failed).
    pub(super) fn show_before_after_files(&mut self, reference: &str, version: i64, after: bool, files: Result<crate::engine::lake::inspect::TableFiles, String>) {
        let Some(entry) = self.model.tables.iter_mut().find(|t| t.reference == reference) else { return };
        let Some(view) = &mut entry.maintenance.before_after else { return };
        let (expected, slot, share) = if after {
            (view.after_version, &mut view.after, &mut view.shares[1])
        } else {
            (view.before_version, &mut view.before, &mut view.shares[0])
        };
        if expected == version {
            *slot = match files {
                Ok(files) => {
                    *share = mean_bbox_share(&files);
                    Requested::Ready(files)
                }
                Err(error) => Requested::Failed(error),
            };
        }
    }
}
