//! Who is who: programs (with their keys and conversions) and partners.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::click_id::{ClickAddress, ClickId};
use crate::index::slot::PROGRAMS_MAX;
use crate::outcome::Conversion;
use crate::program::{PartnerId, ProgramId, ProgramSettings};

/// SHA-256 of a program key: what the log and the registry keep instead of the key.
pub(crate) fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A registered program and the state its claims are serialized on.
pub(crate) struct ProgramEntry {
    pub id: ProgramId,
    pub settings: ProgramSettings,
    /// The program lock: held for the whole claim decision and its log append, which
    /// makes a multi-ID claim atomic and keeps claims of one program in log order.
    pub state: Mutex<ProgramState>,
}

/// The conversions of one program, by order id and by claimed click.
///
/// Both lookups use hashbrown with its default hasher (foldhash, seeded at random per
/// map): several times faster than the standard library's SipHash on these short keys,
/// and order ids, which advertisers choose, cannot be aimed at a known seed. The order-id
/// table stores only indices into `conversions` and hashes the order id found there, so
/// each order id is stored once, in its conversion.
#[derive(Default)]
pub(crate) struct ProgramState {
    conversions: Vec<Arc<Conversion>>,
    by_order_id: HashTable<usize>,
    /// Keyed by address: an ID that addresses a claimed click finds its conversion.
    by_claimed_click: HashMap<ClickAddress, usize>,
    hasher: DefaultHashBuilder,
}

impl ProgramState {
    /// Every conversion of the program, in acceptance order.
    pub fn conversions(&self) -> &[Arc<Conversion>] {
        &self.conversions
    }

    /// The conversion of order `order_id`, if it was accepted.
    pub fn by_order_id(&self, order_id: &str) -> Option<&Arc<Conversion>> {
        let hash = self.hasher.hash_one(order_id);
        self.by_order_id
            .find(hash, |&index| {
                self.conversions[index].order.order_id == order_id
            })
            .map(|&index| &self.conversions[index])
    }

    /// The conversion that claimed `id`, if one did.
    pub fn by_claimed_click(&self, id: &ClickId) -> Option<&Arc<Conversion>> {
        let index = *self.by_claimed_click.get(&id.address())?;
        Some(&self.conversions[index])
    }

    /// Adds an accepted conversion; its order id and every claimed ID must be new to
    /// this program.
    pub fn insert(&mut self, conversion: Arc<Conversion>) {
        let index = self.conversions.len();
        for id in &conversion.claimed {
            let previous = self.by_claimed_click.insert(id.address(), index);
            assert!(previous.is_none(), "click {id} claimed twice");
        }
        let order_id = conversion.order.order_id.as_str();
        // The caller looked the order up under the same program lock; checking again
        // would cost a second lookup on every accepted conversion.
        debug_assert!(
            self.by_order_id(order_id).is_none(),
            "order {order_id} recorded twice"
        );
        let hash = self.hasher.hash_one(order_id);
        let Self {
            conversions,
            by_order_id,
            hasher,
            ..
        } = self;
        by_order_id.insert_unique(hash, index, |&stored| {
            hasher.hash_one(conversions[stored].order.order_id.as_str())
        });
        self.conversions.push(conversion);
    }
}

/// Programs and partners, numbered densely in registration order.
#[derive(Default)]
pub(crate) struct Registry {
    programs: Vec<Arc<ProgramEntry>>,
    by_name: HashMap<String, ProgramId>,
    by_key_digest: HashMap<[u8; 32], ProgramId>,
    /// Each program's current key digest, by program number: what a rotation removes.
    key_digests: Vec<[u8; 32]>,
    partners: Vec<String>,
    partner_by_name: HashMap<String, PartnerId>,
}

impl Registry {
    pub fn program(&self, id: ProgramId) -> Option<&Arc<ProgramEntry>> {
        self.programs.get(id.0 as usize)
    }

    pub fn programs(&self) -> &[Arc<ProgramEntry>] {
        &self.programs
    }

    pub fn program_by_name(&self, name: &str) -> Option<ProgramId> {
        self.by_name.get(name).copied()
    }

    /// The program whose key hashes to `digest`. The lookup is on the digest, never on
    /// the key: its timing tells an attacker nothing about any key.
    pub fn program_by_key_digest(&self, digest: &[u8; 32]) -> Option<&Arc<ProgramEntry>> {
        self.by_key_digest
            .get(digest)
            .and_then(|id| self.program(*id))
    }

    pub fn next_program_id(&self) -> ProgramId {
        ProgramId(self.programs.len() as u32)
    }

    /// The SHA-256 of a program's current key (after any rotation).
    pub fn key_digest_of(&self, id: ProgramId) -> Option<[u8; 32]> {
        self.key_digests.get(id.0 as usize).copied()
    }

    pub fn key_in_use(&self, digest: &[u8; 32]) -> bool {
        self.by_key_digest.contains_key(digest)
    }

    /// Adds a program; its number must be the next one and its name and key new.
    pub fn add_program(
        &mut self,
        id: ProgramId,
        key_sha256: [u8; 32],
        settings: ProgramSettings,
    ) -> Result<(), String> {
        if id.0 >= PROGRAMS_MAX {
            return Err(format!(
                "program {} is beyond the {PROGRAMS_MAX} a slot entry can number",
                id.0
            ));
        }
        if id != self.next_program_id() {
            return Err(format!(
                "program {} registered out of order (expected {})",
                id.0,
                self.programs.len()
            ));
        }
        if self.by_name.contains_key(&settings.name) {
            return Err(format!("program name {:?} registered twice", settings.name));
        }
        if self.by_key_digest.contains_key(&key_sha256) {
            return Err("two programs share one key".to_owned());
        }
        self.by_name.insert(settings.name.clone(), id);
        self.by_key_digest.insert(key_sha256, id);
        self.key_digests.push(key_sha256);
        let state = Mutex::new(ProgramState::default());
        self.programs.push(Arc::new(ProgramEntry {
            id,
            settings,
            state,
        }));
        Ok(())
    }

    /// Replaces a program's key: the old one identifies no program from here on.
    pub fn rotate_key(&mut self, id: ProgramId, key_sha256: [u8; 32]) -> Result<(), String> {
        let Some(old) = self.key_digests.get_mut(id.0 as usize) else {
            return Err(format!("key rotation of unregistered program {}", id.0));
        };
        if self.by_key_digest.contains_key(&key_sha256) {
            return Err(format!("key rotation of program {} to a key in use", id.0));
        }
        self.by_key_digest.remove(old);
        self.by_key_digest.insert(key_sha256, id);
        *old = key_sha256;
        Ok(())
    }

    pub fn partner(&self, name: &str) -> Option<PartnerId> {
        self.partner_by_name.get(name).copied()
    }

    pub fn partner_name(&self, id: PartnerId) -> Option<&str> {
        self.partners.get(id.0 as usize).map(String::as_str)
    }

    pub fn partner_count(&self) -> usize {
        self.partners.len()
    }

    pub fn next_partner_id(&self) -> PartnerId {
        PartnerId(self.partners.len() as u32)
    }

    /// Adds a partner; its number must be the next one and its name new.
    pub fn add_partner(&mut self, id: PartnerId, name: String) -> Result<(), String> {
        if id != self.next_partner_id() {
            return Err(format!(
                "partner {} registered out of order (expected {})",
                id.0,
                self.partners.len()
            ));
        }
        if self.partner_by_name.contains_key(&name) {
            return Err(format!("partner name {name:?} registered twice"));
        }
        self.partner_by_name.insert(name.clone(), id);
        self.partners.push(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_number_beyond_what_a_slot_entry_holds_is_refused() {
        let mut registry = Registry::default();
        let error = registry
            .add_program(ProgramId(PROGRAMS_MAX), [0; 32], ProgramSettings::new("p"))
            .unwrap_err();
        assert!(error.contains("beyond"), "{error}");
        assert_eq!(registry.next_program_id(), ProgramId(0));
    }

    #[test]
    fn a_rotated_key_replaces_the_old_one_and_must_be_new() {
        let mut registry = Registry::default();
        let settings = ProgramSettings::new("p");
        registry
            .add_program(ProgramId(0), [1; 32], settings.clone())
            .unwrap();
        registry
            .add_program(ProgramId(1), [2; 32], ProgramSettings::new("q"))
            .unwrap();
        registry.rotate_key(ProgramId(0), [3; 32]).unwrap();
        assert!(registry.program_by_key_digest(&[1; 32]).is_none());
        assert_eq!(
            registry.program_by_key_digest(&[3; 32]).unwrap().id,
            ProgramId(0)
        );
        assert!(
            registry.rotate_key(ProgramId(0), [2; 32]).is_err(),
            "q's key"
        );
        assert!(
            registry.rotate_key(ProgramId(9), [4; 32]).is_err(),
            "no program 9"
        );
    }
}
