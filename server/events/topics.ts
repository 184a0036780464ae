// The Kafka topics this server publishes to (docs/EVENTS.md describes their events). The relay
// creates the missing ones when it starts; every event's topic is one of these.
/** Onboarding sessions: started, steps updated/completed/skipped, paused, resumed, completed, abandoned. */
export const ONBOARDING_TOPIC = 'glavito.onboarding.v1';
/** Integration connected/disconnected: the tenant's helpdesk configuration changed. */
export const CONFIGURATION_TOPIC = 'glavito.configuration.v1';
/** Integration status and health-check outcomes (integration actors). */
export const INTEGRATION_HEALTH_TOPIC = 'glavito.integration-health.v1';

export const TOPICS = [ONBOARDING_TOPIC, CONFIGURATION_TOPIC, INTEGRATION_HEALTH_TOPIC] as const;
export type Topic = (typeof TOPICS)[number];
