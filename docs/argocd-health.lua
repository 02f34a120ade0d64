-- Argo CD health check for AgentOSConfig (agentos.dev). Install it under the key
-- resource.customizations.health.agentos.dev_AgentOSConfig of the argocd-cm ConfigMap.
-- Healthy once the latest spec is rolled out; Degraded while a person must act (Stalled:
-- an invalid spec, a missing Secret, a refused child, a rollout past its progress deadline);
-- Suspended when paused (whether or not an edit waits for unpausing: Ready's message says
-- which; the operator's Stalled is true then too, for kstatus); Progressing otherwise (a rollout, pods the cluster refuses for now,
-- as Argo CD reads a Deployment, or a spec the operator has not observed yet), with Ready's
-- message saying why.
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe the latest spec"
  return hs
end
local found = {}
for _, condition in ipairs(status.conditions) do
  found[condition.type] = condition
end
local ready = found["Ready"]
if ready ~= nil and ready.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = ready.message
  return hs
end
local stalled = found["Stalled"]
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message
  return hs
end
if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to report"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
else
  hs.status = "Progressing"
  hs.message = ready.message
end
return hs
