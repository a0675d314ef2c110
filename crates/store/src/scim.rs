//! Inbound SCIM's tables: reading people with their SCIM records, SCIM
//! groups and group members, and the statements a change's SCIM part writes.

use sqlx::Row;
use writ_app::ports::{ScimChange, ScimGroupKey, ScimGroupRecord, ScimUserKey, ScimUserRecord, ScimUserRow, StoreError};
use writ_core::identity::Identity;
use writ_core::ids::{GroupId, IdentityId};

use crate::commit::{doc_stmt, i64_of, Col, DocRow, Expect, Param, Stmt};
use crate::rows::{doc, millis, to_doc};
use crate::{db_err, SqlStore};

/// Ids per `IN (…)` list: far below both backends' limits on parameters.
const IDS_PER_QUERY: usize = 500;

fn marks(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The statements that write `scim`.
pub(crate) fn stmts(scim: &ScimChange, out: &mut Vec<Stmt>) {
    for u in &scim.users {
        let r = &u.value;
        out.push(doc_stmt(DocRow {
            table: "scim_users",
            what: "SCIM user",
            id: r.id.to_string(),
            version: u.expected_version.map_or(1, |v| v + 1),
            expected: u.expected_version,
            doc: to_doc(r),
            columns: vec![
                ("external_id", Col::Text(r.external_id.clone().unwrap_or_default())),
                ("deleted", Col::Int(i64::from(r.deleted))),
                ("created_at", Col::Int(millis(r.created_at))),
                ("updated_at", Col::Int(millis(r.updated_at))),
            ],
        }));
    }
    for g in &scim.groups {
        let r = &g.value;
        out.push(doc_stmt(DocRow {
            table: "scim_groups",
            what: "SCIM group",
            id: r.id.clone(),
            version: g.expected_version.map_or(1, |v| v + 1),
            expected: g.expected_version,
            doc: to_doc(r),
            columns: vec![
                ("group_id", Col::Text(r.group.to_string())),
                ("display_key", Col::Text(r.display_name.to_lowercase())),
                ("external_id", Col::Text(r.external_id.clone().unwrap_or_default())),
                ("created_at", Col::Int(millis(r.created_at))),
                ("updated_at", Col::Int(millis(r.updated_at))),
            ],
        }));
    }
    for d in &scim.deleted_groups {
        out.push(Stmt {
            sql: "DELETE FROM scim_groups WHERE id = $1 AND version = $2".into(),
            params: vec![Param::Text(d.value.clone()), Param::Int(i64_of(d.expected_version.unwrap_or(0)))],
            expect: Expect::OneRow { what: "SCIM group" },
            id: d.value.clone(),
        });
    }
}

fn version(r: &sqlx::any::AnyRow, col: &str) -> Result<u64, StoreError> {
    Ok(r.try_get::<i64, _>(col).map_err(db_err)? as u64)
}

impl SqlStore {
    async fn fetch(&self, sql: &str, params: &[String]) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let mut q = sqlx::query(sql);
        for p in params {
            q = q.bind(p.as_str());
        }
        q.fetch_all(&self.reader).await.map_err(db_err)
    }

    /// Runs `sql` (with `{}` where the `IN` list goes) for `ids` in chunks.
    async fn fetch_in(&self, sql: &str, ids: &[String]) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            rows.extend(self.fetch(&sql.replace("{}", &marks(1, chunk.len())), chunk).await?);
        }
        Ok(rows)
    }

    pub(crate) async fn identities_in(&self, sql: &str, ids: &[IdentityId]) -> Result<Vec<(Identity, u64)>, StoreError> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = self.fetch_in(sql, &ids).await?;
        rows.iter().map(|r| Ok((doc("identity", r)?, version(r, "version")?))).collect()
    }

    pub(crate) async fn read_scim_users(&self, key: &ScimUserKey) -> Result<Vec<ScimUserRow>, StoreError> {
        const SELECT: &str = "SELECT i.doc AS doc, i.version AS version, s.doc AS sdoc, s.version AS sversion \
                              FROM identities i LEFT JOIN scim_users s ON s.id = i.id WHERE i.kind = 'person'";
        let rows = match key {
            ScimUserKey::All => self.fetch(&format!("{SELECT} ORDER BY i.id"), &[]).await?,
            ScimUserKey::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                self.fetch_in(&format!("{SELECT} AND i.id IN ({{}})"), &ids).await?
            }
            ScimUserKey::ExternalId(e) => self.fetch(&format!("{SELECT} AND s.external_id = $1 ORDER BY i.id"), std::slice::from_ref(e)).await?,
        };
        let mut users = rows
            .iter()
            .map(|r| {
                let record = match r.try_get::<Option<String>, _>("sdoc").map_err(db_err)? {
                    None => None,
                    Some(text) => {
                        let rec: ScimUserRecord = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt { what: "SCIM user", detail: e.to_string() })?;
                        Some((rec, version(r, "sversion")?))
                    }
                };
                Ok(ScimUserRow { identity: doc("identity", r)?, version: version(r, "version")?, record })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Several `IN` chunks come back each in its own order.
        users.sort_by(|a, b| a.identity.id.cmp(&b.identity.id));
        Ok(users)
    }

    pub(crate) async fn read_scim_user_page(&self, offset: u64, limit: u32) -> Result<(u64, Vec<IdentityId>), StoreError> {
        const LIVE: &str = "FROM identities i LEFT JOIN scim_users s ON s.id = i.id WHERE i.kind = 'person' AND COALESCE(s.deleted, 0) = 0";
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n {LIVE}")).fetch_one(&self.reader).await.map_err(db_err)?.try_get("n").map_err(db_err)?;
        let rows = sqlx::query(&format!("SELECT i.id AS id {LIVE} ORDER BY i.id LIMIT $1 OFFSET $2"))
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let ids = rows
            .iter()
            .map(|r| {
                let id: String = r.try_get("id").map_err(db_err)?;
                IdentityId::parse(&id).map_err(|e| StoreError::Corrupt { what: "identity id", detail: e.to_string() })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((total as u64, ids))
    }

    pub(crate) async fn read_scim_groups(&self, key: &ScimGroupKey) -> Result<Vec<(ScimGroupRecord, u64)>, StoreError> {
        const SELECT: &str = "SELECT doc, version FROM scim_groups";
        let rows = match key {
            ScimGroupKey::All => self.fetch(&format!("{SELECT} ORDER BY display_key"), &[]).await?,
            ScimGroupKey::Ids(ids) => self.fetch_in(&format!("{SELECT} WHERE id IN ({{}}) ORDER BY display_key"), ids).await?,
            ScimGroupKey::Groups(gs) => {
                let gs: Vec<String> = gs.iter().map(ToString::to_string).collect();
                self.fetch_in(&format!("{SELECT} WHERE group_id IN ({{}}) ORDER BY display_key"), &gs).await?
            }
            ScimGroupKey::DisplayName(n) => self.fetch(&format!("{SELECT} WHERE display_key = $1"), &[n.to_lowercase()]).await?,
            ScimGroupKey::ExternalId(e) => self.fetch(&format!("{SELECT} WHERE external_id = $1 ORDER BY display_key"), std::slice::from_ref(e)).await?,
        };
        rows.iter().map(|r| Ok((doc("SCIM group", r)?, version(r, "version")?))).collect()
    }

    pub(crate) async fn read_group_members(&self, groups: &[GroupId]) -> Result<Vec<(GroupId, IdentityId)>, StoreError> {
        let gs: Vec<String> = groups.iter().map(ToString::to_string).collect();
        let sql = "SELECT m.group_id AS g, m.identity_id AS i FROM identity_groups m JOIN identities p ON p.id = m.identity_id \
                   LEFT JOIN scim_users s ON s.id = m.identity_id \
                   WHERE m.group_id IN ({}) AND p.kind = 'person' AND COALESCE(s.deleted, 0) = 0 ORDER BY m.group_id, m.identity_id";
        let rows = self.fetch_in(sql, &gs).await?;
        let bad = |what: &'static str| move |e: writ_core::DomainError| StoreError::Corrupt { what, detail: e.to_string() };
        rows.iter()
            .map(|r| {
                let g = GroupId::parse(&r.try_get::<String, _>("g").map_err(db_err)?).map_err(bad("group membership"))?;
                let i = IdentityId::parse(&r.try_get::<String, _>("i").map_err(db_err)?).map_err(bad("group membership"))?;
                Ok((g, i))
            })
            .collect()
    }
}
