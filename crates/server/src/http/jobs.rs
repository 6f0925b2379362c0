//! Async jobs: `queryAsyncJobResult`, `listAsyncJobs`, and the rendering of a finished job's
//! result.

use serde_json::{json, Value};
use trellis_api::{ApiError, Reply};

use super::handlers::*;
use super::views::*;
use crate::app::job::JobOutcome;
use crate::app::App;

/// `queryAsyncJobResult`.
pub(super) async fn query_async_job_result(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let cmd = cx.cmd;
    let p = cx.p;
    let j = app.job_get(caller, req(p, cmd, "jobid")?).await?;
    Ok(Reply::Bare(job_view(app, caller, &j).await?))
}

/// `listAsyncJobs`.
pub(super) async fn list_async_jobs(cx: &Cx<'_>) -> R {
    let app = cx.app;
    let caller = cx.caller;
    let p = cx.p;
    let (items, total) = app
        .job_list(caller, p.bool_or("listall", false), page_of(app, p)?)
        .await?;
    let mut out = Vec::with_capacity(items.len());
    for j in &items {
        out.push(job_view(app, caller, j).await?);
    }
    Ok(list("asyncjobs", out, total))
}

/// The job result of a finished job (CloudStack's `jobresult`), given to the job worker.
pub fn render_job_outcome(
    app: &App,
    outcome: JobOutcome,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, ApiError>> + Send + '_>> {
    Box::pin(async move {
        let reply = match outcome {
            JobOutcome::Instance(inst) => Reply::Object {
                object: "virtualmachine",
                value: super::views::vm_view(app, &inst).await?,
            },
            JobOutcome::Expunged { uuid } => Reply::Object {
                object: "virtualmachine",
                value: json!({"id": uuid, "state": "Expunged"}),
            },
            JobOutcome::Host(h) => Reply::Object {
                object: "host",
                value: super::views::host_view(app, &h).await?,
            },
            JobOutcome::CustomAction(run) => {
                let mut result = serde_json::Map::new();
                result.insert("message".into(), Value::String(run.message));
                if let Some(d) = run.details {
                    result.insert("details".into(), Value::String(d));
                }
                Reply::Object {
                    object: "customactionresult",
                    value: json!({"id": run.action_uuid, "name": run.action_name, "success": run.success, "result": result}),
                }
            }
            JobOutcome::Template(t) => Reply::Object {
                object: "template",
                value: super::views::template_view(app, &t).await?,
            },
            JobOutcome::AffinityGroup(g) => Reply::Object {
                object: "affinitygroup",
                value: super::views::affinity_group_view(&app.affinity_group_view(&g).await?),
            },
            JobOutcome::Project(p) => Reply::Object {
                object: "project",
                value: super::views::project_view(&app.project_view(&p).await?),
            },
            JobOutcome::User(u) => Reply::Object {
                object: "user",
                value: super::views::user_view(app, &u).await?,
            },
            JobOutcome::Account(a) => Reply::Object {
                object: "account",
                value: super::views::account_view(app, &a).await?,
            },
            JobOutcome::Done => Reply::Success { displaytext: None },
        };
        Ok(reply.job_result())
    })
}
