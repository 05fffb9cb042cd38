//! Delta maintenance (being built on this branch).

use crate::engine::jobs::{JobContext, JobError};

use super::{CompactionReport, CompactionRequest, ExpireReport, ExpireRequest, VacuumReport, VacuumRequest};

pub async fn compact(_table: &str, _request: &CompactionRequest, _ctx: &JobContext) -> Result<CompactionReport, JobError> {
    Err(JobError::Invalid("not built yet".into()))
}

pub async fn expire(_table: &str, _request: &ExpireRequest, _ctx: &JobContext) -> Result<ExpireReport, JobError> {
    Err(JobError::Invalid("not built yet".into()))
}

pub async fn vacuum(_table: &str, _request: &VacuumRequest, _ctx: &JobContext) -> Result<VacuumReport, JobError> {
    Err(JobError::Invalid("not built yet".into()))
}
