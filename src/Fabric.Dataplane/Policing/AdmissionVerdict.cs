namespace Fabric.Dataplane.Policing;

/// <summary>What <see cref="SessionAdmission.TryAdmit"/> decides about a new session; each refusal is a drop reason.</summary>
public enum AdmissionVerdict
{
    /// <summary>The session is taken and counts as active until it is released.</summary>
    Admitted = 0,

    /// <summary>The service is at its high water mark (or its maximum) and has not yet fallen below its low one.</summary>
    SessionLimit,

    /// <summary>The service has opened as many sessions as its session rate allows for now.</summary>
    SessionRateLimited,
}
