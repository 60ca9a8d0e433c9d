ALTER TABLE `handshake_requests` ADD `trust_ttl_seconds` integer;--> statement-breakpoint
ALTER TABLE `trust_pairs` ADD `expires_at` integer;--> statement-breakpoint
CREATE INDEX `trust_pairs_expiry` ON `trust_pairs` (`expires_at`);